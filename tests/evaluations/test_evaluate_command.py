"""The `evaluate` command end to end on the real SmolLM2: JSON output, stored runs, reproducibility, errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from evaluations.models import Run, RunStatus, Sample, Score

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def evaluate(tmp_path: Path, *args: str) -> dict:
    output = tmp_path / f"result-{len(list(tmp_path.iterdir()))}.json"
    call_command("evaluate", *args, "--output", str(output), "--no-progress")
    return json.loads(output.read_text())


def test_evaluate_writes_the_documented_json_and_stores_the_run(tmp_path):
    result = evaluate(tmp_path, "--model", "SmolLM2-135M-Instruct", "--backend", "llama_cpp",
                      "--benchmark", "arc_easy,winogrande,gsm8k", "--limit", "3", "--num-fewshot", "0")
    assert result["model"] == "SmolLM2-135M-Instruct"
    assert len(result["config_hash"]) == 64
    assert set(result["scores"]) == {"arc_easy", "winogrande", "gsm8k"}
    assert result["scores"]["arc_easy"]["acc"]["n"] == 3
    arc = result["samples"]["arc_easy"]
    assert [s["doc_id"] for s in arc] == [0, 1, 2]
    assert set(arc[0]) == {"doc_id", "pred", "acc", "acc_norm", "loglikelihoods"}
    assert len(arc[0]["loglikelihoods"]) == 4 and arc[0]["pred"] == max(range(4), key=arc[0]["loglikelihoods"].__getitem__)
    assert isinstance(result["samples"]["gsm8k"][0]["output"], str)
    mean = sum(s["acc"] for s in arc) / 3
    assert result["scores"]["arc_easy"]["acc"]["value"] == pytest.approx(mean)

    run = Run.objects.get(pk=result["run_id"])
    assert run.status == RunStatus.FINISHED and run.done == run.total == 9
    assert Sample.objects.filter(run=run).count() == 9
    assert Score.objects.filter(run=run, is_primary=True).count() == 3
    assert run.model_sha256 == result["model_sha256"] and len(run.model_sha256) == 64
    assert set(run.dataset_hashes) == set(run.task_spec_hashes) == {"arc_easy", "winogrande", "gsm8k"}
    assert run.environment["libraries"]["llama_cpp_python"]
    assert run.environment["hardware"]["cpu_count"] >= 1


def test_identical_configuration_reproduces_outputs_and_hash(tmp_path):
    args = ("--model", "SmolLM2-135M-Instruct", "--backend", "llama_cpp", "--benchmark", "arc_challenge,gsm8k",
            "--num-fewshot", "0", "--limit", "2")
    first, second = evaluate(tmp_path, *args), evaluate(tmp_path, *args)
    assert first["run_id"] != second["run_id"]
    assert first["config_hash"] == second["config_hash"]
    assert first["samples"] == second["samples"]
    changed = evaluate(tmp_path, *args[:-1], "1")
    assert changed["config_hash"] != first["config_hash"]


def test_mmlu_group_scores_every_subject_and_the_group(tmp_path):
    """Orchestration only, so the DeterministicFakeBackend (a stand-in, not a model) scores the items."""
    result = evaluate(tmp_path, "--model", "SmolLM2-135M-Instruct", "--backend", "fake",
                      "--benchmark", "mmlu", "--limit", "1")
    assert len([s for s in result["scores"] if s.startswith("mmlu_")]) == 57
    group = result["scores"]["mmlu"]["acc"]
    assert group["n"] == 57
    subjects = [v["acc"]["value"] for k, v in result["scores"].items() if k.startswith("mmlu_")]
    assert group["value"] == pytest.approx(sum(subjects) / 57)


def test_hf_backend_runs_the_same_command(tmp_path, smollm2_path):
    result = evaluate(tmp_path, "--model", str(smollm2_path), "--backend", "hf", "--benchmark", "arc_easy",
                      "--limit", "2")
    assert result["scores"]["arc_easy"]["acc"]["n"] == 2
    assert Run.objects.get(pk=result["run_id"]).environment["libraries"]["transformers"]


# -- bad input: one line on stderr, exit code 2, no traceback, no run marked finished ----------------
@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    """A separate SQLite database for subprocess runs, so they never touch the test database."""
    var = tmp_path_factory.mktemp("cli-var")
    env = {**os.environ, "BENCHSITE_VAR_DIR": str(var), "DATABASE_URL": f"sqlite:///{var / 'cli.sqlite3'}",
           "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
    return env


def run_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", "evaluate", "--no-progress", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def finished_runs(env: dict) -> int:
    code = "from evaluations.models import Run; print(Run.objects.filter(status='finished').count())"
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "no-such-model", "--benchmark", "arc_easy"), "unknown model 'no-such-model'"),
        (("--model", "SmolLM2-135M-Instruct", "--backend", "llama_cpp", "--benchmark", "arc_easy,nope"),
         "unknown benchmark 'nope'"),
        (("--model", "SmolLM2-135M-Instruct", "--benchmark", "arc_easy", "--limit", "0"), "--limit must be"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(cli_env, args, message):
    before = finished_runs(cli_env)
    result = run_cli(cli_env, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("CommandError")]
    assert len(error_lines) == 1 and message in error_lines[0]
    assert finished_runs(cli_env) == before


def test_corrupt_model_file_is_rejected(cli_env, tmp_path):
    corrupt = tmp_path / "broken.gguf"
    corrupt.write_bytes(b"not a gguf file at all" * 100)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    for path, message in ((corrupt, "not a GGUF file"), (truncated, "corrupt GGUF")):
        result = run_cli(cli_env, "--model", str(path), "--backend", "llama_cpp", "--benchmark", "arc_easy")
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and message in result.stderr


def test_missing_data_is_rejected_before_a_run_exists(cli_env, tmp_path):
    env = {**cli_env, "BENCHSITE_DATA_DIR": str(tmp_path)}
    result = run_cli(env, "--model", "SmolLM2-135M-Instruct", "--backend", "llama_cpp", "--benchmark", "arc_easy")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "not found" in result.stderr


def test_register_model_command_adds_a_local_folder(tiny_llama_dir, capsys):
    call_command("register_model", str(tiny_llama_dir), "--name", "tiny-llama", "--family", "test")
    from evaluations.models import ModelEntry

    entry = ModelEntry.objects.get(name="tiny-llama")
    assert entry.format == "safetensors" and entry.family == "test" and entry.location == str(tiny_llama_dir)
    assert entry.file_sha256 in capsys.readouterr().out


def test_evaluate_migrates_the_embedded_database_on_first_use_and_resolves_slugs(tmp_path):
    """A fresh SQLite file, never migrated: evaluate creates it, and takes the site's slug in any case."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}", "HF_HUB_OFFLINE": "1"}
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "evaluate", "--model", "SMOLLM2-135m-instruct", "--backend", "llama_cpp",
         "--benchmark", "arc_easy", "--limit", "2", "--num-fewshot", "0", "--no-progress"],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "first use: creating the embedded SQLite database" in result.stderr
    assert "no such table" not in result.stderr
    assert "arc_easy: acc" in result.stdout


CRASHING_EVALUATE = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
import django
django.setup()
from tests.fake_backend import register
register()
from django.core.management import call_command
call_command("evaluate", "--model", "SmolLM2-135M-Instruct", "--backend", "segfaulting", "--benchmark", "arc_easy",
             "--limit", "4", "--num-fewshot", "0", "--no-progress")
"""


def test_a_backend_that_segfaults_fails_the_cli_run_with_the_signal(tmp_path):
    """SegfaultingBackend (a test stand-in) kills the process evaluating with SIGSEGV; evaluate survives it."""
    database = tmp_path / "crash.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "HF_HUB_OFFLINE": "1"}
    env.pop("REDIS_URL", None)
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", CRASHING_EVALUATE], cwd=repo, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0
    assert "run 1 failed: the segfaulting backend crashed the worker process (signal 11, SIGSEGV)" in result.stderr
    status = subprocess.run([sys.executable, "manage.py", "run_status", "1", "--json"], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=120)
    assert json.loads(status.stdout)["status"] == "failed"
