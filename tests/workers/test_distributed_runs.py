"""Runs on real Celery workers: crashes, a broker outage, rollbacks, duplicate submissions, throughput."""
from __future__ import annotations

import subprocess
import threading
import time

import pytest
import redis
from django.db import transaction

from evaluations.services import model_entries, plans, runs, shards
from evaluations.models import Run, RunStatus, Sample, Score, WorkerRecord
from tests.workers.conftest import wait_for

pytestmark = pytest.mark.slow


def plan_arc(limit: int, backend: str = "llama_cpp", **options):
    model = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    return plans.run_plan(model=model, backend=backend, benchmarks=["arc_easy"], limit=limit, **options)


def scores(run: Run) -> dict:
    return {(s.benchmark_slug, s.metric): (s.value, s.stderr, s.n) for s in Score.objects.filter(run=run)}


def reference_scores(plan) -> dict:
    """The same configuration evaluated in this process without interruption."""
    run = runs.run_create(plan=plan)
    return scores(shards.run_execute(run=run, plan=plan))


def refreshed(run: Run) -> Run:
    run.refresh_from_db()
    return run


def assert_complete(run: Run, expected: int) -> None:
    doc_ids = list(Sample.objects.filter(run=run).values_list("doc_id", flat=True))
    assert len(doc_ids) == len(set(doc_ids)) == expected
    assert run.done == run.total == expected


def test_kill_9_mid_run_then_a_fresh_worker_finishes_it_exactly(cluster):
    """SmolLM2 on llama.cpp, no response cache: the resumed run equals one evaluated without interruption."""
    plan = plan_arc(40, response_cache=False)
    run, created = runs.run_submit(plan=plan)
    assert created and run.status == RunStatus.QUEUED and run.shards.count() == 2
    cluster.start_worker("w1")
    wait_for(lambda: refreshed(run).done >= 10, 180, "the first worker to store 10 samples")
    cluster.kill("w1")  # SIGKILL to the whole process group, pool child included
    stored_at_kill = refreshed(run).done
    assert stored_at_kill < 40
    cluster.start_worker("w2")
    cluster.start_beat()
    wait_for(lambda: refreshed(run).status == RunStatus.FINISHED, 300, "the run to finish on the fresh worker",
             logs=cluster)
    assert_complete(run, 40)
    assert scores(run) == reference_scores(plan)


def test_redis_stopped_for_30_seconds_mid_run(cluster):
    """PacedFakeBackend (a stand-in at a model's pace): this is about the broker, not inference."""
    plan = plan_arc(120, backend="paced-fake")
    expected = reference_scores(plan)
    run, _ = runs.run_submit(plan=plan)
    cluster.start_worker("w1")
    cluster.start_beat()
    wait_for(lambda: refreshed(run).done >= 20, 180, "work to start")
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"], check=False)
    time.sleep(30)
    subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379", "--save", "",
                    "--appendonly", "no"], check=True)
    wait_for(lambda: refreshed(run).status == RunStatus.FINISHED, 300, "the run to finish after the outage",
             logs=cluster)
    assert_complete(run, 120)
    assert scores(run) == expected


def test_submission_rolled_back_never_runs(cluster):
    plan = plan_arc(10, backend="fake")
    cluster.start_worker("w1")
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            run, _ = runs.run_submit(plan=plan)
            raise RuntimeError("the request failed after submitting")
    time.sleep(8)
    assert not Run.objects.exists() and not Sample.objects.exists()


def test_two_identical_submissions_at_once_create_one_run(cluster):
    plan = plan_arc(10, backend="fake")
    barrier, results = threading.Barrier(2), []

    def submit() -> None:
        from django.db import connection

        barrier.wait()
        try:
            results.append(runs.run_submit(plan=plan))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Run.objects.count() == 1
    assert sorted(created for _, created in results) == [False, True]
    assert results[0][0].pk == results[1][0].pk


def test_fifty_runs_on_two_workers_all_finish_once(cluster, capsys):
    """DeterministicFakeBackend (a stand-in, not a model): this measures orchestration, not inference."""
    model = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    submitted = []
    started = time.monotonic()
    for index in range(50):
        plan = plans.run_plan(model=model, backend="fake", benchmarks=["arc_easy"], limit=20 + index)
        submitted.append(runs.run_submit(plan=plan)[0])
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    wait_for(lambda: Run.objects.filter(status=RunStatus.FINISHED).count() == 50, 300, "50 runs to finish")
    elapsed = time.monotonic() - started
    for index, run in enumerate(submitted):
        assert_complete(refreshed(run), 20 + index)
    hostnames = set(Run.objects.values_list("shards__worker", flat=True))
    assert {w.split("@")[0] for w in hostnames} == {"w1", "w2"}
    assert set(WorkerRecord.objects.values_list("hostname", flat=True)) >= hostnames
    with capsys.disabled():
        print(f"\n50 runs on 2 workers: {elapsed:.1f} s, {50 / elapsed * 60:.1f} runs/minute")


def test_worker_registers_itself_and_sends_heartbeats(cluster):
    cluster.start_worker("w1")
    wait_for(lambda: WorkerRecord.objects.filter(hostname__startswith="w1@").exists(), 60, "worker registration")
    record = WorkerRecord.objects.get(hostname__startswith="w1@")
    assert record.queues == ["cpu"] and record.memory_bytes > 0 and record.libraries["torch"]
    first_beat = record.heartbeat_at
    wait_for(lambda: WorkerRecord.objects.get(pk=record.pk).heartbeat_at > first_beat, 30, "a heartbeat")


def test_a_worker_restarted_alone_after_kill_9_resumes_without_beat(cluster):
    """No beat and a 15-minute visibility timeout: only the starting worker's own sweep can resume the run.

    PacedFakeBackend (a stand-in at a model's pace): this is about orchestration, not inference.
    """
    cluster.env["BENCHSITE_VISIBILITY_TIMEOUT"] = "900"
    plan = plan_arc(60, backend="paced-fake")
    run, _ = runs.run_submit(plan=plan)
    cluster.start_worker("w1")
    wait_for(lambda: refreshed(run).done >= 10, 180, "the first worker to store 10 samples")
    cluster.kill("w1")
    assert refreshed(run).done < 60
    cluster.start_worker("w1")  # the same hostname: its earlier incarnation is gone
    wait_for(lambda: refreshed(run).status == RunStatus.FINISHED, 120, "the run to finish without beat",
             logs=cluster)
    assert_complete(run, 60)


def test_a_message_lost_before_any_claim_is_replaced_by_a_workers_own_sweep(cluster, settings):
    """The case no restart can see: a queued shard whose message is gone (a dead worker had received it,
    or Redis lost it). No beat and a 15-minute visibility timeout: the worker's periodic sweep replaces it."""
    cluster.env["BENCHSITE_VISIBILITY_TIMEOUT"] = "900"
    run, _ = runs.run_submit(plan=plan_arc(20, backend="fake"))
    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # the message is lost; the row still says queued
    cluster.start_worker("w1")
    wait_for(lambda: refreshed(run).status == RunStatus.FINISHED, 90, "the sweep to replace the lost message",
             logs=cluster)
    assert_complete(run, 20)
