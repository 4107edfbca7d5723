"""HumanEval and MBPP: prompts against the harness's task files, program assembly, the pass@k scorer."""
from __future__ import annotations

import ast
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jinja2
import pytest
import yaml
from django.core.management import call_command

from tests.fake_backend import DeterministicFakeBackend
from runner.datasets import load_split
from runner.engine import evaluate_items, prepare_task
from runner.registry import SCORERS, ScoreContext
from runner.sandbox import CodeExecutionDisabled
from runner.catalog import TASKS

LM_EVAL_TASKS = Path(__import__("lm_eval").__file__).parent / "tasks"
EXECUTE = ScoreContext(allow_execution=True, execution_timeout_s=5.0, execution_memory_mb=512)
score = SCORERS["unit_tests"]


def harness_yaml(relative: str) -> dict:
    text = (LM_EVAL_TASKS / relative).read_text()
    return yaml.load(text.replace("!function", ""), Loader=yaml.BaseLoader)  # tags are irrelevant here


def render(template: str, row: dict) -> str:
    return jinja2.Template(template, keep_trailing_newline=True).render(**row)


def harness_mbpp_fewshot_samples() -> list[dict]:
    """The literal list in the harness's mbpp/utils.py, read without importing it (it loads HF `evaluate`)."""
    module = ast.parse((LM_EVAL_TASKS / "mbpp" / "utils.py").read_text())
    function = next(node for node in module.body if getattr(node, "name", "") == "list_fewshot_samples")
    return ast.literal_eval(function.body[-1].value)


def doc(slug: str, index: int = 0):
    return prepare_task(TASKS[slug], limit=index + 1).items[index].doc


# -- prompts and programs, byte for byte with the harness ------------------------------------------------
def test_humaneval_prompts_and_generation_settings_match_the_harness(shared_data_dir):
    config = harness_yaml("humaneval/humaneval.yaml")
    spec = TASKS["humaneval"]
    assert spec.until == tuple(config["generation_kwargs"]["until"])
    assert spec.max_new_tokens == int(config["generation_kwargs"]["max_gen_toks"])
    assert (spec.temperature, spec.num_samples, spec.default_num_fewshot) == (0.0, 1, 0)
    task = prepare_task(spec)
    rows = load_split(spec.test).rows
    assert len(task.items) == 164
    for item, row in zip(task.items, rows):
        assert item.prompt == render(config["doc_to_text"], row) == row["prompt"]
        completion = "    return 42\n"
        # The harness: build_predictions gives prompt + completion; code_eval runs candidate + "\n" + test case.
        harness_program = row["prompt"] + completion + "\n" + render(config["doc_to_target"], row)
        assert item.doc.extra["program_prefix"] + completion + item.doc.extra["program_suffix"] == harness_program


def test_mbpp_reads_the_500_test_tasks_and_prompts_three_shot_as_the_harness(shared_data_dir):
    config = harness_yaml("mbpp/mbpp.yaml")
    spec = TASKS["mbpp"]
    assert spec.until == tuple(config["generation_kwargs"]["until"])
    assert spec.default_num_fewshot == int(config["num_fewshot"]) == 3
    assert spec.target_delimiter == config["target_delimiter"] == ""
    task = prepare_task(spec)
    assert [item.doc.extra["task_id"] for item in task.items] == list(range(11, 511))
    shots = harness_mbpp_fewshot_samples()
    assert [shot["task_id"] for shot in shots] == [2, 3, 4]
    context = "".join(
        render(config["doc_to_text"], shot) + render(config["doc_to_target"], shot) + "\n\n" for shot in shots
    )
    rows = {row["task_id"]: row for row in load_split(spec.test).rows}
    for item in task.items:
        row = rows[item.doc.extra["task_id"]]
        assert item.prompt == context + render(config["doc_to_text"], row)
        completion = "def f():\n    pass\n"
        tests = render(config["doc_to_target"], row)  # not few-shot: the three asserts
        program = item.doc.extra["program_prefix"] + completion + item.doc.extra["program_suffix"]
        assert program == completion + "\n" + row["test_setup_code"] + "\n" + tests


def test_sampled_variants_draw_ten_samples_and_report_pass_at_1_5_10():
    for greedy, sampled in (("humaneval", "humaneval_pass_at_k"), ("mbpp", "mbpp_pass_at_k")):
        assert (TASKS[sampled].num_samples, TASKS[sampled].temperature) == (10, 0.8)
        assert TASKS[sampled].metrics == ("pass@1", "pass@5", "pass@10")
        assert TASKS[sampled].test == TASKS[greedy].test and TASKS[sampled].template == TASKS[greedy].template
        for spec in (TASKS[greedy], TASKS[sampled]):
            assert spec.requires_execution and spec.category == "coding" and spec.primary_metric == "pass@1"


# -- the scorer ----------------------------------------------------------------------------------------
def test_scorer_on_hand_made_completions(shared_data_dir):
    has_close_elements = doc("humaneval", 0)  # HumanEval/0
    cases = {
        "right": (has_close_elements.extra["reference_solution"], "passed"),
        "wrong": ("    return False\n", "failed"),
        "syntax error": ("    return (numbers\n", "error"),
        "endless": ("    while True:\n        pass\n", "timeout"),
    }
    context = ScoreContext(allow_execution=True, execution_timeout_s=2.0, execution_memory_mb=512)
    for name, (completion, status) in cases.items():
        result = score(has_close_elements, [completion], context)
        assert result.metrics == {"pass@1": float(status == "passed")}, name
        [test] = result.details["tests"]
        assert test["status"] == status, (name, test)
        assert result.prediction == completion
    syntax_error = score(has_close_elements, [cases["syntax error"][0]], context).details["tests"][0]
    assert syntax_error["reason"] == "SyntaxError" and "SyntaxError" in syntax_error["stderr_tail"]


def test_mbpp_scorer_runs_setup_code_before_the_asserts(shared_data_dir):
    task = prepare_task(TASKS["mbpp"])
    trees = next(item.doc for item in task.items if item.doc.extra["task_id"] == 367)
    assert score(trees, [trees.extra["reference_solution"]], EXECUTE).metrics == {"pass@1": 1.0}
    assert score(trees, ["def is_tree_balanced(root):\n    return True\n"], EXECUTE).metrics == {"pass@1": 0.0}


@pytest.mark.parametrize(("correct", "expected"), [
    (0, {"pass@1": 0.0, "pass@5": 0.0, "pass@10": 0.0}),
    # pass@5 = 1 - C(7,5)/C(10,5) = 1 - 21/252; pass@10 = 1 as soon as one sample is right.
    (3, {"pass@1": 0.3, "pass@5": 1 - 21 / 252, "pass@10": 1.0}),
    (10, {"pass@1": 1.0, "pass@5": 1.0, "pass@10": 1.0}),
])
def test_pass_at_k_from_ten_samples(shared_data_dir, correct, expected):
    add = doc("humaneval", 53)
    assert add.extra["task_id"] == "HumanEval/53"  # add(x, y)
    outputs = ["    return x + y\n"] * correct + ["    return x - y\n"] * (10 - correct)
    result = score(add, outputs, EXECUTE)
    assert result.metrics == pytest.approx(expected)
    assert [test["status"] for test in result.details["tests"]] == ["passed"] * correct + ["failed"] * (10 - correct)


def test_scorer_refuses_when_code_execution_is_off(shared_data_dir):
    with pytest.raises(CodeExecutionDisabled, match="BENCHSITE_CODE_EXECUTION=1"):
        score(doc("humaneval"), ["    return True\n"], ScoreContext(allow_execution=False))


def test_engine_scores_every_sample_of_the_sampled_variant(shared_data_dir):
    """Orchestration only: the fake backend's outputs are not code, so every sample fails."""
    task = prepare_task(TASKS["mbpp_pass_at_k"], limit=1)
    [result] = evaluate_items(task, DeterministicFakeBackend(), context=EXECUTE)
    assert result.metrics == {"pass@1": 0.0, "pass@5": 0.0, "pass@10": 0.0}
    assert len(result.details["tests"]) == len(result.details["outputs"]) == 10


# -- whole datasets --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("slug", "total"), [("humaneval", 164), ("mbpp", 500)])
def test_reference_solutions_pass_every_item(shared_data_dir, settings, capsys, slug, total):
    settings.BENCHSITE_CODE_EXECUTION = True
    call_command("verify_benchmark", slug, "--json")
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {
        "benchmark": slug, "passed": total, "total": total, "bad_items": [],
    }


@pytest.mark.parametrize(("slug", "total"), [("humaneval", 164), ("mbpp", 500)])
def test_empty_completions_pass_no_item(shared_data_dir, slug, total):
    items = prepare_task(TASKS[slug]).items
    with ThreadPoolExecutor(max_workers=4) as pool:  # each item waits on its own sandbox process
        results = list(pool.map(lambda item: score(item.doc, [""], EXECUTE), items))
    assert len(results) == total
    assert [result.metrics["pass@1"] for result in results] == [0.0] * total


# -- end to end on a real model ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.django_db
def test_evaluate_runs_humaneval_and_mbpp_on_smollm2(tmp_path, settings):
    settings.BENCHSITE_CODE_EXECUTION = True
    output = tmp_path / "result.json"
    call_command("evaluate", "--model", "SmolLM2-135M-Instruct", "--backend", "llama_cpp",
                 "--benchmark", "humaneval,mbpp", "--limit", "2", "--max-new-tokens", "48", "--output", str(output), "--no-progress")
    result = json.loads(output.read_text())
    for slug in ("humaneval", "mbpp"):
        samples = result["samples"][slug]
        assert [sample["doc_id"] for sample in samples] == [0, 1]
        assert all(sample["pass@1"] in (0.0, 1.0) and isinstance(sample["output"], str) for sample in samples)
        assert result["scores"][slug]["pass@1"]["n"] == 2
