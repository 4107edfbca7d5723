"""Live progress of runs: a snapshot computed from the stored rows, sent to the run's channel group.

RunProgress is the one shape of a snapshot: workers publish it as a dict (channel layers carry plain
data), pages and websocket consumers read it back with RunProgress.from_dict.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db.models import Avg, Count, IntegerField, Q, Sum
from django.db.models.functions import Cast
from django.utils import timezone

from evaluations.models import FINAL_STATUSES, Run, RunStatus, Sample, Shard
from evaluations.selectors import run_spend_summary

logger = logging.getLogger(__name__)
LIVE_RUNS_GROUP = "runs_live"


def run_group(run_id: int) -> str:
    return f"run_{run_id}"


@dataclass(frozen=True)
class RunProgress:
    run_id: int
    status: str
    done: int
    total: int
    is_private: bool = False
    benchmarks: list[dict] = field(default_factory=list)  # {"slug", "done", "total"} per benchmark
    running_accuracy: float | None = None
    tokens_per_second: float | None = None
    eta_seconds: float | None = None
    spend: dict | None = None  # priced runs: evaluations.selectors.RunSpend.as_dict()

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, snapshot: dict) -> RunProgress:
        # Unknown keys are ignored, so a newer publisher can add some without breaking an older page.
        return cls(**{name: snapshot[name] for name in cls.__dataclass_fields__ if name in snapshot})

    @classmethod
    def of_run(cls, run: Run) -> RunProgress:
        """The counts stored on the row alone: for lists, where a full snapshot per run would be N+1."""
        return cls(run_id=run.pk, status=run.status, done=run.done, total=run.total, is_private=run.is_private)

    @property
    def status_label(self) -> str:
        return RunStatus(self.status).label if self.status in RunStatus.values else self.status

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def eta(self) -> str:
        """Time left, coarse on purpose (the rate is an average since the start): "1 h 05 min", "3 min 20 s"."""
        if self.eta_seconds is None or self.is_final:
            return ""
        seconds = round(self.eta_seconds)
        hours, rest = divmod(seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        if hours:
            return f"{hours} h {minutes:02d} min"
        return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def progress_snapshot(*, run_id: int) -> RunProgress:
    run = Run.objects.only("status", "done", "total", "started_at", "is_private", "config", "spend_input_tokens",
                           "spend_output_tokens", "spend_estimated_tokens").get(pk=run_id)
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
    return RunProgress(
        run_id=run_id,
        is_private=run.is_private,
        status=run.status,
        done=run.done,
        total=run.total,
        benchmarks=[
            {"slug": slug, "done": per_benchmark.get(slug, {}).get("done", 0), "total": total}
            for slug, total in sorted(totals.items())
        ],
        running_accuracy=float(accuracy) if accuracy is not None else None,
        tokens_per_second=tokens / elapsed if elapsed > 0 else None,
        eta_seconds=(run.total - run.done) / rate if rate > 0 else None,
        spend=run_spend_summary(run=run),
    )


def publish(*, run_id: int, line: str = "") -> None:
    """Send the run's snapshot to its watchers. Never fails the evaluation: progress is best effort."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        message = {"type": "run.progress", "snapshot": progress_snapshot(run_id=run_id).as_dict(), "line": line}
        async_to_sync(layer.group_send)(run_group(run_id), message)
        async_to_sync(layer.group_send)(LIVE_RUNS_GROUP, message)
    except Exception as exc:  # broker down, channel full: the stored rows still hold the truth
        logger.warning("progress for run %s not sent: %s", run_id, exc)
