"""Run orchestration with the DeterministicFakeBackend (a test stand-in, not a model): failure and resume."""
from __future__ import annotations

import pytest

from evaluations.services import model_entries, placement, plans, runs, shards
from evaluations.models import Run, RunStatus, Sample, Score, Shard, ShardStatus
from runner import engine
from runner.errors import BenchsiteError
from tests.fake_backend import DeterministicFakeBackend

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    """Scoring calls of 16 items, so the simulated crashes below land in the middle of a shard."""
    monkeypatch.setattr(engine, "MULTIPLE_CHOICE_BATCH_ITEMS", 16)


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
    model = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    return plans.run_plan(model=model, backend="fake", benchmarks=["arc_easy", "hellaswag"], limit=40)


def scores_of(run: Run) -> dict:
    return {(s.benchmark_slug, s.metric): (s.value, s.stderr, s.n) for s in Score.objects.filter(run=run)}


def test_a_failure_mid_run_marks_it_failed_and_keeps_stored_samples(plan, monkeypatch):
    run = runs.run_create(plan=plan)
    crashing = CrashingBackend(calls_before_crash=2)
    monkeypatch.setattr(shards, "run_backend", lambda run: crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        shards.run_execute(run=run, plan=plan)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "simulated crash" in run.error
    assert run.done == Sample.objects.filter(run=run).count() == 32  # two batches of 16 items
    assert not Score.objects.filter(run=run).exists()


def test_resume_skips_stored_samples_and_matches_an_uninterrupted_run(plan, monkeypatch):
    clean = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)

    interrupted = runs.run_create(plan=plan)
    crashing = CrashingBackend(calls_before_crash=4)  # dies inside the hellaswag shard
    monkeypatch.setattr(shards, "run_backend", lambda run: crashing)
    with pytest.raises(RuntimeError):
        shards.run_execute(run=interrupted, plan=plan)
    # As a worker killed mid-shard leaves things: run and shard still marked running.
    Run.objects.filter(pk=interrupted.pk).update(status=RunStatus.RUNNING)
    Shard.objects.filter(run=interrupted, status=ShardStatus.FAILED).update(status=ShardStatus.RUNNING)
    assert 40 < Sample.objects.filter(run=interrupted).count() < 80
    monkeypatch.setattr(shards, "run_backend", lambda run: DeterministicFakeBackend())
    resumed = shards.run_execute(run=interrupted, plan=plan)

    assert resumed.status == RunStatus.FINISHED
    assert Sample.objects.filter(run=resumed).count() == 80
    assert resumed.done == 80
    assert scores_of(resumed) == scores_of(clean)
    assert clean.performance["resources_complete"] is True
    assert resumed.performance["resources_complete"] is False  # the crashed attempt's figures are lost


def test_a_finished_run_is_not_executed_twice(plan):
    run = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)
    with pytest.raises(BenchsiteError, match="finished"):
        shards.run_execute(run=run, plan=plan)
    assert Sample.objects.filter(run=run).count() == 80


def test_unknown_backend_and_wrong_format_are_refused():
    model = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    with pytest.raises(BenchsiteError, match="unknown backend"):
        plans.run_plan(model=model, backend="vllm", benchmarks=["arc_easy"])
    model.format = "safetensors"
    with pytest.raises(BenchsiteError, match="needs a GGUF file"):
        plans.run_plan(model=model, backend="llama_cpp", benchmarks=["arc_easy"])


def test_local_folder_registers_with_its_hash(tiny_llama_dir):
    entry = model_entries.model_resolve(reference=str(tiny_llama_dir))
    assert entry.source_kind == "local" and entry.format == "safetensors"
    assert len(entry.file_sha256) == 64
    assert model_entries.model_resolve(reference=str(tiny_llama_dir)).pk == entry.pk


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
    entry = model_entries.model_resolve(reference="acme/tiny")
    assert entry.source_kind == "hub"
    assert model_entries.model_path(entry.location) == snapshot


def test_a_poisoned_shard_fails_the_run_after_bounded_deliveries(plan, settings):
    settings.BENCHSITE_MAX_DELIVERIES = 3
    run = runs.run_create(plan=plan)
    shard = run.shards.first()
    for delivery in range(3):  # each redelivery of a shard whose worker died claims it again
        assert shards.shard_claim(shard_id=shard.pk, worker=f"w{delivery}") is not None
    assert shards.shard_claim(shard_id=shard.pk, worker="w3") is None
    shard.refresh_from_db()
    run.refresh_from_db()
    assert shard.status == ShardStatus.FAILED and shard.deliveries == 4
    assert run.status == RunStatus.FAILED and "failed 3 times" in run.error
    assert not run.shards.filter(status=ShardStatus.QUEUED).exists()


def test_placement_routes_by_memory_and_refuses_what_fits_nowhere(settings):
    model = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    settings.BENCHSITE_QUEUES = {"cpu": 4 * 1024**3, "gpu-24gb": 24 * 1024**3, "gpu-80gb": 80 * 1024**3}
    plan = plans.run_plan(model=model, backend="llama_cpp", benchmarks=["arc_easy"], limit=2)
    queue, estimate = placement.run_placement(plan=plan)
    assert queue == "cpu" and 0.5 * 1024**3 < estimate < 1.5 * 1024**3
    gpu = plans.run_plan(model=model, backend="hf", benchmarks=["arc_easy"], limit=2,
                            backend_options={"device": "cuda", "batch_size": 8})
    assert placement.run_placement(plan=gpu)[0] == "gpu-24gb"
    settings.BENCHSITE_QUEUES = {"cpu": 256 * 1024**2}
    with pytest.raises(BenchsiteError, match="nothing fits"):
        runs.run_create(plan=plan)
    assert not Run.objects.exists()


def test_in_process_runs_whose_process_died_are_failed_and_live_ones_kept(plan):
    """`evaluate` or the demo killed mid-run: the next start fails the run instead of leaving it running."""
    import os
    import socket

    dead, alive = runs.run_create(plan=plan), runs.run_create(plan=plan)
    host = socket.gethostname()
    for run, pid in ((dead, 2**22 + 12345), (alive, os.getpid())):  # above pid_max: no such process
        Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
        Shard.objects.filter(run=run).update(status=ShardStatus.RUNNING, worker=f"local:{pid}@{host}")

    assert shards.local_runs_fail_orphaned() == dead.shards.count()
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == RunStatus.FAILED and "ended without finishing it: killed or crashed" in dead.error
    assert alive.status == RunStatus.RUNNING
