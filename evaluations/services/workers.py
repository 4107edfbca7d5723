"""Workers: who is up (registration, heartbeats), and shards taken again when their worker is gone."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from evaluations.models import ACTIVE_STATUSES, Shard, ShardStatus, WorkerRecord
from evaluations.selectors import worker_silence_cutoff
from evaluations.services.runs import shards_enqueue
from runner.environment import hardware, library_versions


def worker_register(*, hostname: str, queues: list[str]) -> WorkerRecord:
    machine = hardware()
    device = ", ".join(gpu["name"] for gpu in machine["gpus"]) or f"cpu: {machine['processor']}"
    now = timezone.now()
    record, _ = WorkerRecord.objects.update_or_create(
        hostname=hostname,
        defaults={"queues": queues, "device": device, "memory_bytes": machine["memory_bytes"],
                  "libraries": library_versions(), "started_at": now, "heartbeat_at": now, "stopped_at": None},
    )
    return record


def worker_heartbeat(*, hostname: str) -> None:
    WorkerRecord.objects.filter(hostname=hostname).update(heartbeat_at=timezone.now(), stopped_at=None)


def worker_stopped(*, hostname: str) -> None:
    WorkerRecord.objects.filter(hostname=hostname).update(stopped_at=timezone.now())


def workers_mark_stale() -> int:
    return WorkerRecord.objects.filter(stopped_at=None, heartbeat_at__lt=worker_silence_cutoff()).update(
        stopped_at=timezone.now()
    )


def _submitted_active_shards():
    return Shard.objects.filter(
        status__in=[ShardStatus.QUEUED, ShardStatus.RUNNING], run__status__in=ACTIVE_STATUSES,
        run__submission_key__isnull=False,  # submitted to workers, not run in-process by `evaluate`
    )


def shards_requeue_stale() -> int:
    """Beat: enqueue again shards of active runs that nobody has touched for a while.

    The rows are the truth and the broker is not: a message lost with a Redis restart, or held by a
    worker that died, is replaced. Claims are idempotent and stored samples are skipped, so a shard
    that turns out to be alive only costs a duplicate delivery.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.BENCHSITE_SHARD_STALE_SECONDS)
    return _requeue(_submitted_active_shards().filter(updated_at__lt=cutoff))


def shards_sweep_if_due(*, every_seconds: int) -> int | None:
    """A worker's own sweep, so a run resumes without beat: at most one worker sweeps per period.

    A shard whose message a dead worker had received but not yet claimed stays `queued`, and no
    restart can tell it from one waiting in the broker; only the stale-shard sweep replaces it.
    None when another worker swept within the period.
    """
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            if not client.set("benchsite:shard-sweep", "1", nx=True, ex=max(1, every_seconds)):
                return None
        finally:
            client.close()
    return shards_requeue_stale()


def shards_requeue_orphaned(*, hostname: str) -> int:
    """A worker starting: take again the running shards of workers that are gone.

    Gone means this very hostname (its earlier incarnation died mid-shard), a worker that stopped, or
    one silent for three heartbeats. Without this a killed worker's shard would wait for beat's sweep,
    or for the broker's visibility timeout when no beat runs.
    """
    gone = set(WorkerRecord.objects.filter(
        Q(stopped_at__isnull=False) | Q(heartbeat_at__lt=worker_silence_cutoff())
    ).values_list("hostname", flat=True)) | {hostname}
    return _requeue(_submitted_active_shards().filter(status=ShardStatus.RUNNING, worker__in=gone))


def _requeue(shards) -> int:
    rows = list(shards.values_list("pk", "run__queue"))
    for shard_id, queue in rows:
        Shard.objects.filter(pk=shard_id).update(updated_at=timezone.now())
        shards_enqueue(shard_ids=[shard_id], queue=queue)
    return len(rows)
