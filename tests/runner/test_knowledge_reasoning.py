"""Knowledge and reasoning benchmarks: real rows against the harness's task YAMLs, open-QA metrics and BBH
answer extraction on hand-made cases, and one real run of every task on the bundled SmolLM2."""
from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path
from typing import Sequence

import pytest

from runner.backends.base import Generation, GenerationRequest, truncate_at_stop
from runner.datasets import load_split
from runner.engine import evaluate_items, prepare_task
from runner.registry import SCORERS, ScoreContext
from runner.catalog import GROUPS, TASKS
from runner.templates import TEMPLATES
from runner.text_metrics import best_exact_match, best_token_f1, normalize_answer, token_f1
from tests.runner.test_datasets import harness_yaml, render

OPEN_QA = ("triviaqa", "nq_open")
MULTIPLE_CHOICE = ("openbookqa", "piqa", "siqa", "boolq", "commonsense_qa")


def render_list(template: str, row: dict) -> list:
    """The harness turns a rendered "[...]" target or choice list back into a list with literal_eval."""
    return ast.literal_eval(render(template, row))


def bbh_source_counts(shared_data_dir: Path) -> dict[str, int]:
    text = (shared_data_dir / "bbh" / "SOURCE.md").read_text()
    return {name: int(count) for name, count in re.findall(r"^  - `(\w+)`: (\d+)$", text, re.MULTILINE)}


class ScriptedBackend:
    """Returns prepared generations in order; checks the engine's answer handling, not a model."""

    name = "scripted"

    def __init__(self, outputs: Sequence[str]) -> None:
        self.outputs = list(outputs)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return [Generation(truncate_at_stop(self.outputs.pop(0), r.stop), 0, 0) for r in requests]


# -- data: every split has the rows its SOURCE.md lists ------------------------------------------------
@pytest.mark.parametrize(
    ("slug", "rows", "first_fields"),
    [
        ("triviaqa", 7993, {"question_id": "tc_33"}),
        ("nq_open", 3610, {"question": "when was the last time anyone was on the moon"}),
        ("openbookqa", 500, {"id": "8-343", "answerKey": "B"}),
        ("piqa", 1838, {"label": 0}),
        ("siqa", 1954, {"label": "3"}),
        ("boolq", 3270, {"answer": False}),
        ("commonsense_qa", 1221, {"answerKey": "A"}),
    ],
)
def test_loaders_read_the_real_evaluation_split(shared_data_dir, slug, rows, first_fields):
    split = load_split(TASKS[slug].test)
    assert len(split.rows) == rows
    for key, value in first_fields.items():
        assert split.rows[0][key] == value
    assert str(shared_data_dir) in split.origin


def test_bbh_group_has_the_27_tasks_and_6511_questions_of_its_source(shared_data_dir):
    counts = bbh_source_counts(shared_data_dir)
    assert len(counts) == 27 and sum(counts.values()) == 6511
    group = GROUPS["bbh"]
    assert set(group.members) == {f"bbh_{name}" for name in counts}
    assert group.category == "reasoning" and group.primary_metric == "exact_match,get-answer"
    for name, count in counts.items():
        spec = TASKS[f"bbh_{name}"]
        assert len(load_split(spec.test).rows) == count
        assert len(load_split(spec.fewshot).rows) == 3


def test_openbookqa_test_rows_take_the_hub_schema_of_the_validation_split(shared_data_dir):
    test_row = load_split(TASKS["openbookqa"].test).rows[0]
    validation_row = load_split(TASKS["openbookqa"].fewshot).rows[0]
    assert set(test_row) == set(validation_row) == {"id", "question_stem", "choices", "answerKey"}
    assert test_row["question_stem"].startswith("A person wants to start saving money")
    assert test_row["choices"]["label"] == ["A", "B", "C", "D"]


def test_categories_and_primary_metrics():
    for slug in ("triviaqa", "nq_open", "openbookqa"):
        assert TASKS[slug].category == "knowledge"
    for slug in ("piqa", "siqa", "boolq", "commonsense_qa", *GROUPS["bbh"].members):
        assert TASKS[slug].category == "reasoning"
    assert {slug: TASKS[slug].primary_metric for slug in (*OPEN_QA, *MULTIPLE_CHOICE)} == {
        "triviaqa": "exact_match", "nq_open": "exact_match", "openbookqa": "acc_norm", "piqa": "acc_norm",
        "siqa": "acc", "boolq": "acc", "commonsense_qa": "acc",
    }
    assert all(len(TASKS[slug].spec_hash()) == 64 for slug in (*OPEN_QA, *MULTIPLE_CHOICE, "bbh_navigate"))


# -- prompts are the harness's ---------------------------------------------------------------------------
def test_triviaqa_prompt_targets_and_stops_match_the_harness(shared_data_dir):
    config = harness_yaml("triviaqa/default.yaml")
    spec = TASKS["triviaqa"]
    assert list(spec.until) == config["generation_kwargs"]["until"]
    assert spec.target_delimiter == config["target_delimiter"] and spec.default_num_fewshot == 0
    for row in load_split(spec.test).rows[:100]:
        doc = TEMPLATES["triviaqa"](row)
        assert doc.text == render(config["doc_to_text"], row)
        assert doc.extra["answers"] == render_list(config["doc_to_target"], row)


def test_nq_open_prompt_targets_and_stops_match_the_harness(shared_data_dir):
    config = harness_yaml("nq_open/nq_open.yaml")
    spec = TASKS["nq_open"]
    assert list(spec.until) == config["generation_kwargs"]["until"]
    assert (spec.description, spec.fewshot_delimiter) == (config["description"], config["fewshot_delimiter"])
    task = prepare_task(spec, limit=50)
    for item, row in zip(task.items, load_split(spec.test).rows):
        assert item.prompt == config["description"] + render(config["doc_to_text"], row)
        assert item.doc.extra["answers"] == render_list(config["doc_to_target"], row)


def test_nq_open_few_shot_shows_the_first_answer_and_its_delimiter(shared_data_dir):
    rows = load_split(TASKS["nq_open"].test).rows
    prompt = prepare_task(TASKS["nq_open"], limit=1, num_fewshot=2).items[0].prompt
    shots = prompt.removeprefix("Answer these questions:\n\n").split("\n")
    assert len(shots) == 6 and shots[-2:] == [f"Q: {rows[0]['question']}?", "A:"]
    by_question = {f"Q: {row['question']}?": row["answer"][0] for row in rows[1:]}
    assert shots[1] == f"A: {by_question[shots[0]]}" and shots[3] == f"A: {by_question[shots[2]]}"


def test_openbookqa_matches_the_harness(shared_data_dir):
    config = harness_yaml("openbookqa/openbookqa.yaml")
    for row in load_split(TASKS["openbookqa"].test).rows:
        doc = TEMPLATES["openbookqa"](row)
        assert doc.text == row[config["doc_to_text"]]  # a bare field name in the YAML
        assert list(doc.choices) == render_list(config["doc_to_choice"], row)
        assert doc.gold == int(render(config["doc_to_target"], row))


@pytest.mark.parametrize(
    ("slug", "config_path"),
    [("piqa", "piqa/piqa.yaml"), ("siqa", "siqa/siqa.yaml"), ("boolq", "super_glue/boolq/default.yaml"),
     ("commonsense_qa", "commonsense_qa/default.yaml")],
)
def test_multiple_choice_prompts_match_the_harness(shared_data_dir, slug, config_path):
    config = harness_yaml(config_path)
    spec = TASKS[slug]
    assert spec.target_delimiter == config.get("target_delimiter", " ")
    assert set(spec.metrics) == {metric["metric"] for metric in config["metric_list"]}
    for row in load_split(spec.test).rows[:300]:
        if slug == "boolq":  # the harness reads SuperGLUE's integer label; google/boolq stores a boolean
            row = {**row, "label": int(row["answer"])}
        doc = TEMPLATES[slug](row)
        assert doc.text == render(config["doc_to_text"], row)
        choice = config["doc_to_choice"]
        choices = choice if isinstance(choice, list) else render_list(choice, row)
        assert list(doc.choices) == choices
        target = config["doc_to_target"]
        gold = row[target] if target in row else render(target, row)
        assert doc.gold == (choices.index(gold) if gold in choices else int(gold))


@pytest.mark.parametrize("name", ["boolean_expressions", "sports_understanding", "snarks", "dyck_languages",
                                  "penguins_in_a_table", "word_sorting"])
def test_bbh_three_shot_prompt_is_the_harness_cot_fewshot_prompt(shared_data_dir, name):
    base = harness_yaml("bbh/cot_fewshot/_cot_fewshot_template_yaml")
    config = harness_yaml(f"bbh/cot_fewshot/{name}.yaml")
    spec = TASKS[f"bbh_{name}"]
    assert spec.default_num_fewshot == int(base["num_fewshot"]) == 3
    assert spec.target_delimiter == base["target_delimiter"]
    assert list(spec.until) == base["generation_kwargs"]["until"]
    assert spec.max_new_tokens == int(base["generation_kwargs"]["max_gen_toks"])
    assert spec.filters[0].pattern == base["filter_list"][0]["filter"][0]["regex_pattern"]
    shots = "".join(render(config["doc_to_text"], s) + base["target_delimiter"] + s["target"] + "\n\n"
                    for s in config["fewshot_config"]["samples"])
    rows = load_split(spec.test).rows
    for item, row in zip(prepare_task(spec, limit=5).items, rows):
        assert item.prompt == config["description"] + shots + render(config["doc_to_text"], row)
        assert item.target == row["target"]


def test_every_bbh_cot_prompt_file_gives_the_harness_examples_and_description(shared_data_dir):
    for name in (member.removeprefix("bbh_") for member in GROUPS["bbh"].members):
        config = harness_yaml(f"bbh/cot_fewshot/{name}.yaml")
        assert load_split(TASKS[f"bbh_{name}"].fewshot).rows == config["fewshot_config"]["samples"]
        assert TASKS[f"bbh_{name}"].description == config["description"]


# -- open-QA metrics on hand-made answers ---------------------------------------------------------------
def test_squad_normalisation_drops_case_punctuation_articles_and_extra_spaces():
    assert normalize_answer("  The Quick,  brown FOX!  ") == "quick brown fox"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("Theatre") == "theatre"  # articles only as whole words


@pytest.mark.parametrize(
    ("prediction", "reference", "f1"),
    [
        ("Paris", "paris.", 1.0),
        ("the cat sat on the mat", "a cat on a mat", 6 / 7),  # precision 3/4, recall 3/3
        ("Barack Obama", "Obama", 2 / 3),  # precision 1/2, recall 1
        ("paris paris paris", "paris", 0.5),  # repeated tokens count once each: precision 1/3
        ("New York City", "York New", 0.8),  # order does not matter: precision 2/3, recall 1
        ("London", "Paris", 0.0),
        ("The", "the", 1.0),  # both normalise to nothing
        ("", "Paris", 0.0),
    ],
)
def test_token_f1_on_known_cases(prediction, reference, f1):
    assert token_f1(prediction, reference) == pytest.approx(f1)


def test_open_qa_scores_take_the_best_answer():
    aliases = ["The Beatles", "Beatles", "Fab Four"]
    assert best_token_f1("the fab four band", aliases) == pytest.approx(0.8)  # 2 of 3 tokens, all of "fab four"
    assert best_exact_match("beatles!", aliases, ignore_case=True, ignore_punctuation=True) == 1.0
    assert best_exact_match("beatles!", aliases) == 0.0
    assert best_exact_match("anything", []) == 0.0 and best_token_f1("anything", []) == 0.0


def test_open_qa_exact_match_agrees_with_the_harness_metric():
    from lm_eval.api.metrics import exact_match_hf_evaluate

    nq = {"ignore_case": True, "ignore_punctuation": True,
          "regexes_to_ignore": [harness_yaml("nq_open/nq_open.yaml")["metric_list"][0]["regexes_to_ignore"][0]]}
    trivia = {"ignore_case": True, "ignore_punctuation": True}
    cases = [("The Eiffel Tower", ["Eiffel Tower"]), ("eiffel tower.", ["The Eiffel Tower"]), ("in a box", ["in box"]),
             ("Mr. Smith", ["mr smith"]), ("an apple", ["Apple", "pear"]), ("1,000", ["1000"]), ("", ["x"])]
    for prediction, answers in cases:
        for options in (nq, trivia):
            harness = exact_match_hf_evaluate(predictions=[prediction] * len(answers), references=answers, **options)
            assert best_exact_match(prediction, answers, **options) == float(harness["exact_match"] > 0)


def test_nq_open_ignores_articles_triviaqa_does_not():
    trivia = TEMPLATES["triviaqa"]({"question": "Who?", "answer": {"aliases": ["Eiffel Tower"]}})
    nq = TEMPLATES["nq_open"]({"question": "who", "answer": ["Eiffel Tower"]})
    output = " The Eiffel Tower"
    trivia_result = SCORERS["triviaqa"](trivia, [output], ScoreContext())
    nq_result = SCORERS["nq_open"](nq, [output], ScoreContext())
    assert trivia_result.metrics == {"exact_match": 0.0, "f1": 1.0}
    assert nq_result.metrics == {"exact_match": 1.0, "f1": 1.0}
    assert trivia_result.prediction == "The Eiffel Tower"  # the harness strips whitespace first


def test_triviaqa_generation_is_cut_at_the_harness_stops_and_scored(shared_data_dir):
    task = prepare_task(TASKS["triviaqa"], limit=2)
    first, second = (item.doc.extra["answers"] for item in task.items)
    outputs = [f" {first[0].upper()}, I think.\nQuestion:", " Nobody knows"]
    results = list(evaluate_items(task, ScriptedBackend(outputs)))
    assert results[0].prediction == first[0].upper() and results[0].metrics == {"exact_match": 1.0, "f1": 1.0}
    assert results[1].metrics["exact_match"] == 0.0 and "nobody knows" not in [a.lower() for a in second]


# -- BBH answer extraction ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("output", "extracted", "gold"),
    [
        ("Let's see: (B) is a triangle. So the answer is (B).", "(B)", "(B)"),
        ("not True = False. So the answer is False.\n", "False", "False"),
        ("so the answer is valid", "vali", "valid"),  # the harness drops the last character, full stop or not
        ("I would pick (A).", "[invalid]", "(A)"),
        ("So the answer is (A). No, the answer is (C).", "(A). No, the answer is (C)", "(C)"),  # greedy, first
        ("So The Answer Is (A).", "[invalid]", "(A)"),  # case-sensitive, as in the harness
    ],
)
def test_bbh_extraction_matches_the_harness_filter(shared_data_dir, output, extracted, gold):
    from lm_eval.filters.extraction import RegexFilter

    spec = TASKS["bbh_date_understanding"]
    harness = RegexFilter(regex_pattern=spec.filters[0].pattern).apply([[output]], [{}])[0][0]
    task = prepare_task(spec, limit=1, num_fewshot=0)
    task.items[0] = dataclasses.replace(task.items[0], doc=TEMPLATES["bbh_cot"]({"input": "Q?", "target": gold}))
    result = next(evaluate_items(task, ScriptedBackend([output])))
    assert harness == extracted == result.prediction
    assert result.metrics == {"exact_match,get-answer": float(extracted == gold)}


def test_bbh_generation_stops_where_the_harness_stops(shared_data_dir):
    spec = TASKS["bbh_boolean_expressions"]
    task = prepare_task(spec, limit=2)
    gold = [item.doc.gold for item in task.items]
    wrong = "False" if gold[1] == "True" else "True"
    outputs = [f"We evaluate. So the answer is {gold[0]}.\n\nQ: next question", f"So the answer is {wrong}.Q"]
    results = list(evaluate_items(task, ScriptedBackend(outputs)))
    assert [r.output for r in results] == [f"We evaluate. So the answer is {gold[0]}.", f"So the answer is {wrong}."]
    assert [r.metrics["exact_match,get-answer"] for r in results] == [1.0, 0.0]


# -- a real model end to end ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.django_db
def test_evaluate_runs_every_task_on_smollm2(tmp_path):
    from django.core.management import call_command

    slugs = [*OPEN_QA, *MULTIPLE_CHOICE, "bbh_boolean_expressions"]
    output = tmp_path / "result.json"
    call_command("evaluate", "--model", "SmolLM2-135M-Instruct", "--backend", "llama_cpp", "--benchmark",
                 ",".join(slugs), "--limit", "2", "--max-new-tokens", "48", "--output", str(output), "--no-progress")
    result = json.loads(output.read_text())
    for slug in slugs:
        primary = result["scores"][slug][TASKS[slug].primary_metric]
        assert primary["n"] == 2 and 0.0 <= primary["value"] <= 1.0
        assert len(result["samples"][slug]) == 2
    for slug in OPEN_QA:
        assert set(result["scores"][slug]) == {"exact_match", "f1"}
        assert result["scores"][slug]["f1"]["value"] >= result["scores"][slug]["exact_match"]["value"]
    assert set(result["scores"]["openbookqa"]) == {"acc", "acc_norm"}
    assert isinstance(result["samples"]["bbh_boolean_expressions"][0]["output"], str)
