"""Celery entry points: take ids, call services."""
from __future__ import annotations

from celery import shared_task
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError

from evaluations import services


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(*services.TRANSIENT_ERRORS, RedisConnectionError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
    soft_time_limit=settings.BENCHSITE_SHARD_SOFT_TIME_LIMIT,
    time_limit=settings.BENCHSITE_SHARD_SOFT_TIME_LIMIT + 60,
)
def execute_shard(self, shard_id: int) -> None:
    services.shard_execute(shard_id=shard_id, worker=self.request.hostname or "local")


@shared_task
def workers_mark_stale() -> int:
    """Beat: workers silent for three heartbeats are shown as down."""
    return services.workers_mark_stale()


@shared_task
def shards_requeue_stale() -> int:
    return services.shards_requeue_stale()
