"""Live progress of runs: a snapshot computed from the stored rows, sent to the run's channel group."""
from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db.models import Avg, Count, IntegerField, Q, Sum
from django.db.models.functions import Cast
from django.utils import timezone

from evaluations.models import Run, Sample, Shard

logger = logging.getLogger(__name__)
LIVE_RUNS_GROUP = "runs_live"


def run_group(run_id: int) -> str:
    return f"run_{run_id}"


def progress_snapshot(*, run_id: int) -> dict:
    run = Run.objects.only("status", "done", "total", "started_at", "is_private").get(pk=run_id)
    totals = dict(
        Shard.objects.filter(run_id=run_id).values_list("benchmark_slug").annotate(n=Sum("stop") - Sum("start"))
    )
    per_benchmark = {
        row["benchmark__slug"]: row
        for row in Sample.objects.filter(run_id=run_id).values("benchmark__slug").annotate(
            done=Count("id"), correct=Count("id", filter=Q(correct=True)), tokens=Sum("output_tokens")
        )
    }
    accuracy = Sample.objects.filter(run_id=run_id, correct__isnull=False).aggregate(
        value=Avg(Cast("correct", IntegerField()))  # PostgreSQL has no avg(boolean)
    )["value"]
    elapsed = (timezone.now() - run.started_at).total_seconds() if run.started_at else 0.0
    tokens = sum(row["tokens"] or 0 for row in per_benchmark.values())
    rate = run.done / elapsed if elapsed > 0 else 0.0
    return {
        "run_id": run_id,
        "is_private": run.is_private,
        "status": run.status,
        "done": run.done,
        "total": run.total,
        "benchmarks": [
            {"slug": slug, "done": per_benchmark.get(slug, {}).get("done", 0), "total": total}
            for slug, total in sorted(totals.items())
        ],
        "running_accuracy": float(accuracy) if accuracy is not None else None,
        "tokens_per_second": tokens / elapsed if elapsed > 0 else None,
        "eta_seconds": (run.total - run.done) / rate if rate > 0 else None,
    }


def publish(*, run_id: int, line: str = "") -> None:
    """Send the run's snapshot to its watchers. Never fails the evaluation: progress is best effort."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        message = {"type": "run.progress", "snapshot": progress_snapshot(run_id=run_id), "line": line}
        async_to_sync(layer.group_send)(run_group(run_id), message)
        async_to_sync(layer.group_send)(LIVE_RUNS_GROUP, message)
    except Exception as exc:  # broker down, channel full: the stored rows still hold the truth
        logger.warning("progress for run %s not sent: %s", run_id, exc)
