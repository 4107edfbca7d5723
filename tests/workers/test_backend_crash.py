"""A model runtime that crashes its worker process ends the run as failed, naming backend and signal."""
from __future__ import annotations

import pytest

from evaluations.models import Run, RunStatus, Shard, ShardStatus
from evaluations.services import model_entries, plans, runs
from tests.workers.conftest import wait_for

pytestmark = pytest.mark.slow


def test_a_segfaulting_backend_fails_the_run_with_the_signal_and_no_retry_loop(cluster):
    """SegfaultingBackend (a test stand-in) sends SIGSEGV to the pool process on its first scoring call."""
    model = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    plan = plans.run_plan(model=model, backend="segfaulting", benchmarks=["arc_easy"], limit=10)
    run, _ = runs.run_submit(plan=plan)
    cluster.start_worker("w1")
    wait_for(lambda: Run.objects.get(pk=run.pk).is_final, 90, "the run to end")

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "segfaulting backend crashed the worker process" in run.error
    assert "SIGSEGV" in run.error and "signal 11" in run.error
    shard = Shard.objects.get(run=run)
    assert shard.status == ShardStatus.FAILED
    assert shard.deliveries == 1  # failed at the first crash, not after redeliveries
    assert "crashed" in shard.error
