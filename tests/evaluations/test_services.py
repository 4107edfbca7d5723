"""Run orchestration with the DeterministicFakeBackend (a test stand-in, not a model): failure and resume."""
from __future__ import annotations

import pytest

from evaluations import services
from evaluations.models import Run, RunStatus, Sample, Score
from runner.backends.fake import DeterministicFakeBackend

pytestmark = pytest.mark.django_db


class CrashingBackend(DeterministicFakeBackend):
    """Behaves like the fake backend, then fails on the n-th scoring call (a worker dying mid-run)."""

    def __init__(self, calls_before_crash: int) -> None:
        super().__init__()
        self.calls_left = calls_before_crash

    def loglikelihood(self, requests):
        if self.calls_left == 0:
            raise RuntimeError("simulated crash")
        self.calls_left -= 1
        return super().loglikelihood(requests)


@pytest.fixture
def plan():
    model = services.model_resolve(reference="SmolLM2-135M-Instruct")
    return services.run_plan(model=model, backend="fake", benchmarks=["arc_easy", "hellaswag"], limit=40)


def scores_of(run: Run) -> dict:
    return {(s.benchmark_slug, s.metric): (s.value, s.stderr, s.n) for s in Score.objects.filter(run=run)}


def test_a_failure_mid_run_marks_it_failed_and_keeps_stored_samples(plan, monkeypatch):
    run = services.run_create(plan=plan)
    monkeypatch.setattr(services, "load_backend", lambda *a, **k: CrashingBackend(calls_before_crash=2))
    with pytest.raises(RuntimeError, match="simulated crash"):
        services.run_execute(run=run, plan=plan)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "simulated crash" in run.error
    assert run.done == Sample.objects.filter(run=run).count() == 32  # two batches of 16 items
    assert not Score.objects.filter(run=run).exists()


def test_resume_skips_stored_samples_and_matches_an_uninterrupted_run(plan, monkeypatch):
    clean = services.run_execute(run=services.run_create(plan=plan), plan=plan)

    interrupted = services.run_create(plan=plan)
    monkeypatch.setattr(services, "load_backend", lambda *a, **k: CrashingBackend(calls_before_crash=3))
    with pytest.raises(RuntimeError):
        services.run_execute(run=interrupted, plan=plan)
    Run.objects.filter(pk=interrupted.pk).update(status=RunStatus.RUNNING)  # as a crashed worker leaves it
    monkeypatch.setattr(services, "load_backend", lambda *a, **k: DeterministicFakeBackend())
    resumed = services.run_execute(run=interrupted, plan=plan)

    assert resumed.status == RunStatus.FINISHED
    assert Sample.objects.filter(run=resumed).count() == 80
    assert resumed.done == 80
    assert scores_of(resumed) == scores_of(clean)


def test_a_finished_run_is_not_executed_twice(plan):
    run = services.run_execute(run=services.run_create(plan=plan), plan=plan)
    with pytest.raises(services.BenchsiteError, match="finished"):
        services.run_execute(run=run, plan=plan)
    assert Sample.objects.filter(run=run).count() == 80


def test_unknown_backend_and_wrong_format_are_refused():
    model = services.model_resolve(reference="SmolLM2-135M-Instruct")
    with pytest.raises(services.BenchsiteError, match="unknown backend"):
        services.run_plan(model=model, backend="vllm", benchmarks=["arc_easy"])
    model.format = "safetensors"
    with pytest.raises(services.BenchsiteError, match="needs a GGUF file"):
        services.run_plan(model=model, backend="llama_cpp", benchmarks=["arc_easy"])


def test_local_folder_registers_with_its_hash(tiny_llama_dir):
    entry = services.model_resolve(reference=str(tiny_llama_dir))
    assert entry.source_kind == "local" and entry.format == "safetensors"
    assert len(entry.file_sha256) == 64
    assert services.model_resolve(reference=str(tiny_llama_dir)).pk == entry.pk


def test_hub_download_code_path_with_local_files(tmp_path, tiny_llama_dir, monkeypatch):
    """huggingface_hub resolves a hub id from its local cache when offline (the path users take online)."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    snapshot = cache / "models--acme--tiny" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for file in tiny_llama_dir.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    (cache / "models--acme--tiny" / "refs").mkdir()
    (cache / "models--acme--tiny" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    entry = services.model_resolve(reference="acme/tiny")
    assert entry.source_kind == "hub"
    assert services.model_path(entry.location) == snapshot
