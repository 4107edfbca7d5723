"""The state of the site's dependencies for load balancers (/healthz): the database, Redis and the workers.

Policy: the site is unhealthy (503) only when a dependency every web request needs is down — the database, or
Redis when REDIS_URL is set (the broker and the channel layer). Workers are reported, never fatal: a web node
serves pages without them, and taking every node out of rotation because a queue has no worker would turn a
backlog into an outage. No Redis configured (the embedded default: eager Celery, in-memory channels) is healthy.
"""
from __future__ import annotations

import time

from dataclasses import asdict, dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, Q
from redis.backoff import NoBackoff
from redis.retry import Retry

from evaluations.models import WorkerRecord
from evaluations.selectors import worker_silence_cutoff


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str
    latency_ms: float | None = None
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthReport:
    checks: dict[str, Check]

    @property
    def failing(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check.ok]

    @property
    def healthy(self) -> bool:
        return not self.failing

    def as_json(self) -> dict[str, Any]:
        checks = {name: {key: value for key, value in asdict(check).items() if key != "figures"} | check.figures
                  for name, check in self.checks.items()}
        return {"status": "ok" if self.healthy else "unavailable", "failing": self.failing, "checks": checks}


def health_report() -> HealthReport:
    database = database_check()
    # Worker heartbeats live in the database: when it is down there is nothing to read.
    workers = worker_check() if database.ok else Check(ok=True, detail="unknown: the database is down")
    return HealthReport(checks={"database": database, "redis": redis_check(settings.REDIS_URL), "workers": workers})


def database_check() -> Check:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        return Check(ok=False, detail=_reason(error), latency_ms=_since(started))
    return Check(ok=True, detail=f"ok ({connection.vendor})", latency_ms=_since(started))


def redis_check(url: str) -> Check:
    if not url:
        return Check(ok=True, detail="not configured")
    timeout = settings.BENCHSITE_HEALTH_TIMEOUT_S
    started = time.perf_counter()
    # A client of its own, short timeouts and one attempt: a dead or black-holed Redis must not hang the probe
    # (redis-py otherwise retries three times with backoff).
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                  retry=Retry(NoBackoff(), 0))
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        return Check(ok=False, detail=_reason(error), latency_ms=_since(started))
    finally:
        client.close()
    return Check(ok=True, detail="ok", latency_ms=_since(started))


def worker_check() -> Check:
    """How many workers sent a heartbeat since the cutoff; informational (see the module's policy)."""
    counts = WorkerRecord.objects.aggregate(
        alive=Count("pk", filter=Q(stopped_at=None, heartbeat_at__gte=worker_silence_cutoff())),
        known=Count("pk"),
    )
    if settings.CELERY_TASK_ALWAYS_EAGER:
        detail = "not needed: tasks run in the web process (eager)"
    elif counts["alive"]:
        detail = "ok"
    else:
        detail = "no live worker: queued runs wait"
    return Check(ok=True, detail=detail, figures={"alive": counts["alive"], "known": counts["known"],
                                                  "heartbeat_seconds": settings.BENCHSITE_HEARTBEAT_SECONDS})


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _reason(error: Exception) -> str:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first_line}"[:300]
