"""Celery entry points: take ids, call services. Time limits and process crashes are handled here."""
from __future__ import annotations

import logging
import re
import signal

from billiard.exceptions import WorkerLostError
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.worker.request import Request
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError

from evaluations.services import regressions, shards, workers

# Signals a process raises against itself when native code goes wrong: retrying would crash again.
CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT})
_SIGNAL_IN_MESSAGE = re.compile(r"signal (\d+)")
logger = logging.getLogger(__name__)


class ShardRequest(Request):
    """Runs in the worker's main process, which outlives a pool process killed by a signal."""

    def on_failure(self, exc_info, send_failed_event=True, return_ok=False):
        exc = getattr(exc_info.exception, "exc", exc_info.exception)  # billiard wraps it with its traceback
        if isinstance(exc, WorkerLostError):
            number = _crash_signal(str(exc))
            if number is not None:
                try:
                    shards.shard_crashed(shard_id=self.args[0],
                                         signal_name=f"signal {number}, {signal.Signals(number).name}")
                except Exception:  # the database away: the shard is redelivered and fails on its deliveries
                    logger.exception("could not record the crash of shard %s", self.args[0])
        return super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)


def _crash_signal(message: str) -> int | None:
    match = _SIGNAL_IN_MESSAGE.search(message)  # "Worker exited prematurely: signal 11 (SIGSEGV) Job: 3."
    number = int(match.group(1)) if match else None
    return number if number in CRASH_SIGNALS else None


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(*shards.TRANSIENT_ERRORS, RedisConnectionError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
    soft_time_limit=settings.BENCHSITE_SHARD_SOFT_TIME_LIMIT,
    time_limit=settings.BENCHSITE_SHARD_SOFT_TIME_LIMIT + 60,
    Request=ShardRequest,
)
def execute_shard(self, shard_id: int) -> None:
    try:
        shards.shard_execute(shard_id=shard_id, worker=self.request.hostname or "local",
                             interrupts=(SoftTimeLimitExceeded,))
    except SoftTimeLimitExceeded:
        shards.shard_time_out(shard_id=shard_id)
        raise


@shared_task
def workers_mark_stale() -> int:
    """Beat: workers silent for three heartbeats are shown as down."""
    return workers.workers_mark_stale()


@shared_task
def shards_requeue_stale() -> int:
    return workers.shards_requeue_stale()


@shared_task(acks_late=True, autoretry_for=shards.TRANSIENT_ERRORS, retry_backoff=2, max_retries=5)
def regression_notify(regression_id: int) -> int:
    """Email and webhook deliveries of one regression alert; failed deliveries are recorded, not raised."""
    return len(regressions.regression_notify(regression_id=regression_id))
