"""The sandbox's commands: sandbox_run, verify_benchmark, and evaluate refusing code benchmarks when execution is off."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from runner import catalog as tasks
from runner.datasets import DATA_DIR_ENV, DataSource
from runner.registry import TEMPLATES
from runner.spec import GENERATE_UNTIL, MULTIPLE_CHOICE, TaskSpec
from runner.templates import Doc

REPO = Path(__file__).resolve().parents[2]


def manage(*args: str, execution: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCHSITE_CODE_EXECUTION": "1" if execution else "0"}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


# -- sandbox_run ---------------------------------------------------------------------------------------
def test_sandbox_run_prints_the_verdict_as_json_on_its_last_line(tmp_path):
    program = tmp_path / "hello.py"
    program.write_text("print('hello')\nassert sum([1, 2]) == 3\n")
    finished = manage("sandbox_run", str(program), "--timeout", "5", "--memory-mb", "256")
    assert finished.returncode == 0, finished.stderr
    verdict = json.loads(finished.stdout.strip().splitlines()[-1])
    assert verdict["status"] == "passed" and verdict["returncode"] == 0
    assert verdict["stdout_tail"] == "hello\n" and verdict["duration_s"] > 0


def test_sandbox_run_exits_zero_whatever_the_verdict(tmp_path, settings, capsys):
    settings.BENCHSITE_CODE_EXECUTION = True
    program = tmp_path / "spin.py"
    program.write_text("while True:\n    pass\n")
    call_command("sandbox_run", str(program), "--timeout", "1", "--memory-mb", "256")  # raises on a non-zero exit
    verdict = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert verdict["status"] == "timeout" and 1.0 <= verdict["duration_s"] < 3.0


def test_sandbox_run_bad_input_is_one_line_and_exit_code_2():
    finished = manage("sandbox_run", "missing.py")
    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines() == ["CommandError: no such file: missing.py"]


@pytest.mark.parametrize(("args", "message"), [
    (["--timeout", "soon"], "--timeout must be a number, got 'soon'"),
    (["--timeout", "-1"], "--timeout must be a finite positive number, got '-1'"),
    (["--timeout", "inf"], "--timeout must be a finite positive number, got 'inf'"),
    (["--memory-mb", "4"], "--memory-mb must be at least 32"),
])
def test_sandbox_run_rejects_bad_limits(tmp_path, settings, args, message):
    settings.BENCHSITE_CODE_EXECUTION = True
    program = tmp_path / "ok.py"
    program.write_text("pass\n")
    with pytest.raises(CommandError) as refused:
        call_command("sandbox_run", str(program), *args)
    assert (str(refused.value), refused.value.returncode) == (message, 2)


def test_sandbox_run_refuses_while_code_execution_is_off(tmp_path, settings):
    settings.BENCHSITE_CODE_EXECUTION = False
    program = tmp_path / "marker.py"
    marker = tmp_path / "ran"
    program.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    with pytest.raises(CommandError, match="set BENCHSITE_CODE_EXECUTION=1") as refused:
        call_command("sandbox_run", str(program))
    assert refused.value.returncode == 2
    assert not marker.exists()


# -- evaluate --------------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("benchmark", ["humaneval", "mbpp_pass_at_k"])
def test_evaluate_refuses_code_benchmarks_while_code_execution_is_off(settings, benchmark):
    settings.BENCHSITE_CODE_EXECUTION = False
    with pytest.raises(CommandError, match=f"{benchmark} run model-written code; set BENCHSITE_CODE_EXECUTION=1") as refused:
        call_command("evaluate", "--model", "SmolLM2-135M-Instruct", "--backend", "fake", "--benchmark", benchmark,
                     "--limit", "1", "--no-progress")
    assert refused.value.returncode == 2


# -- verify_benchmark --------------------------------------------------------------------------------------
def verify(capsys, *args: str) -> dict:
    call_command("verify_benchmark", *args, "--json")
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_verify_checks_multiple_choice_answer_keys(shared_data_dir, capsys):
    assert verify(capsys, "arc_easy", "--limit", "50") == {
        "benchmark": "arc_easy", "passed": 50, "total": 50, "bad_items": [],
    }
    group = verify(capsys, "mmlu", "--limit", "2")
    assert (group["passed"], group["total"]) == (114, 114)


def test_verify_checks_multiple_input_and_generation_answer_keys(shared_data_dir, capsys):
    assert verify(capsys, "winogrande", "--limit", "20")["passed"] == 20
    assert verify(capsys, "gsm8k", "--limit", "20")["passed"] == 20


@pytest.fixture
def broken_benchmarks(tmp_path, monkeypatch):
    """A multiple-choice and a generation benchmark whose answer keys have holes, on hand-made rows."""
    rows = [
        {"question": "2 + 2?", "choices": ["3", "4"], "gold": 1, "answer": "4"},
        {"question": "Capital of France?", "choices": ["Paris", "Lyon"], "gold": 2, "answer": ""},
        {"question": "No options", "choices": [], "gold": 0, "answer": "  "},
    ]
    (tmp_path / "broken.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setitem(TEMPLATES, "test_broken_choice", lambda row: Doc(
        text=row["question"], choices=tuple(row["choices"]), gold=row["gold"]))
    monkeypatch.setitem(TEMPLATES, "test_broken_answer", lambda row: Doc(
        text=row["question"], target_text=row["answer"], gold=row["answer"]))
    source = DataSource("broken.jsonl")
    for slug, output_type in (("test_broken_choice", MULTIPLE_CHOICE), ("test_broken_answer", GENERATE_UNTIL)):
        monkeypatch.setitem(tasks.TASKS, slug, TaskSpec(
            slug=slug, category="test", version="1", output_type=output_type, template=slug, test=source))


def test_verify_lists_items_without_a_valid_answer(broken_benchmarks, capsys):
    with pytest.raises(CommandError, match="2 of 3 items failed verification") as failed:
        verify(capsys, "test_broken_choice")
    assert failed.value.returncode == 1
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {
        "benchmark": "test_broken_choice", "passed": 1, "total": 3, "bad_items": [
            {"task": "test_broken_choice", "doc_id": 1, "problem": "gold 2 is not an index into 2 choices"},
            {"task": "test_broken_choice", "doc_id": 2, "problem": "no choices"},
        ],
    }
    with pytest.raises(CommandError, match="2 of 3 items failed verification"):
        verify(capsys, "test_broken_answer")
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [(item["doc_id"], item["problem"]) for item in summary["bad_items"]] == [(1, "empty target"), (2, "empty target")]


def test_verify_runs_reference_solutions_and_refuses_without_execution(shared_data_dir, settings, capsys):
    settings.BENCHSITE_CODE_EXECUTION = True
    assert verify(capsys, "humaneval_pass_at_k", "--limit", "3") == {
        "benchmark": "humaneval_pass_at_k", "passed": 3, "total": 3, "bad_items": [],
    }
    settings.BENCHSITE_CODE_EXECUTION = False
    with pytest.raises(CommandError, match="mbpp runs its reference solutions; set BENCHSITE_CODE_EXECUTION=1"):
        verify(capsys, "mbpp")


def test_verify_rejects_an_unknown_benchmark():
    with pytest.raises(CommandError, match="unknown benchmark 'no_such_benchmark'") as refused:
        call_command("verify_benchmark", "no_such_benchmark")
    assert refused.value.returncode == 2
