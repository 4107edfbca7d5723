"""/healthz: the database, Redis and worker heartbeats, against the real services and a Redis of our own."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.db import OperationalError, connection
from django.urls import reverse
from django.utils import timezone

from evaluations.models import WorkerRecord
from operations import health

REDIS_SERVER = shutil.which("redis-server")


class ThrowawayRedis:
    """A redis-server of this test's own on a free port, so stopping it never touches the shared one."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def own_redis() -> Iterator[ThrowawayRedis]:
    if REDIS_SERVER is None:
        pytest.skip("needs redis-server on PATH (apt-get install redis-server)")
    server = ThrowawayRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A port that accepts connections and never answers: a hung Redis, as a load balancer would meet it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


def get_health(client):
    response = client.get(reverse("operations:healthz"))
    return response, response.json()


@pytest.mark.django_db
def test_healthz_answers_503_with_redis_stopped_and_200_again_after(client, settings, own_redis):
    settings.REDIS_URL = own_redis.url

    response, body = get_health(client)
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["checks"]["redis"]["ok"] is True

    own_redis.stop()
    started = time.monotonic()
    response, body = get_health(client)
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert body["status"] == "unavailable" and body["failing"] == ["redis"]
    assert "ConnectionError" in body["checks"]["redis"]["detail"]
    assert body["checks"]["database"]["ok"] is True

    own_redis.start()  # the same port
    response, body = get_health(client)
    assert response.status_code == 200, body
    assert body["failing"] == []


@pytest.mark.django_db
def test_a_hung_redis_fails_within_the_timeout(settings, silent_redis):
    settings.BENCHSITE_HEALTH_TIMEOUT_S = 1.0
    started = time.monotonic()
    check = health.redis_check(silent_redis)
    elapsed = time.monotonic() - started
    assert not check.ok and "Timeout" in check.detail
    assert 0.9 < elapsed < 2.5


@pytest.mark.django_db
def test_the_shared_redis_and_database_are_healthy():
    if not django_settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: the embedded default has no Redis to check")
    check = health.redis_check(django_settings.REDIS_URL)
    assert check.ok and check.detail == "ok" and check.latency_ms is not None
    database = health.database_check()
    assert database.ok and connection.vendor in database.detail


@pytest.mark.django_db
def test_no_redis_configured_is_healthy(client, settings):
    settings.REDIS_URL = ""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    response, body = get_health(client)
    assert response.status_code == 200
    assert body["checks"]["redis"] == {"ok": True, "detail": "not configured", "latency_ms": None}
    assert body["checks"]["workers"]["detail"].startswith("not needed")


@pytest.mark.django_db
def test_workers_are_counted_by_heartbeat_and_their_absence_is_not_fatal(client, settings):
    settings.REDIS_URL = ""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    response, body = get_health(client)
    assert response.status_code == 200
    assert body["checks"]["workers"] | {"heartbeat_seconds": 0} == {
        "ok": True, "detail": "no live worker: queued runs wait", "latency_ms": None, "alive": 0, "known": 0,
        "heartbeat_seconds": 0,
    }

    now = timezone.now()
    silent = now - timedelta(seconds=3 * settings.BENCHSITE_HEARTBEAT_SECONDS + 5)
    WorkerRecord.objects.create(hostname="alive@a", started_at=now, heartbeat_at=now)
    WorkerRecord.objects.create(hostname="silent@b", started_at=silent, heartbeat_at=silent)
    WorkerRecord.objects.create(hostname="stopped@c", started_at=now, heartbeat_at=now, stopped_at=now)
    response, body = get_health(client)
    assert response.status_code == 200
    workers = body["checks"]["workers"]
    assert (workers["alive"], workers["known"], workers["detail"]) == (1, 3, "ok")


@pytest.mark.django_db
def test_a_database_error_answers_503_naming_the_database(client, settings, monkeypatch):
    settings.REDIS_URL = ""

    def refuse(*args, **kwargs):
        raise OperationalError("connection to server at \"127.0.0.1\", port 5432 failed: Connection refused\nmore")

    monkeypatch.setattr(connection, "cursor", refuse)
    response, body = get_health(client)
    assert response.status_code == 503
    assert body["failing"] == ["database"]
    assert body["checks"]["database"]["detail"].startswith("OperationalError: connection to server")
    assert body["checks"]["workers"]["detail"] == "unknown: the database is down"


@pytest.mark.django_db
def test_healthz_needs_no_session_and_is_never_cached(client, settings):
    settings.REDIS_URL = ""
    for _ in range(5):
        response = client.get(reverse("operations:healthz"))
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        assert not response.cookies  # no session, no CSRF cookie
        assert "Cookie" not in response.get("Vary", "")  # the session was never read
    assert client.head(reverse("operations:healthz")).status_code == 200
    assert client.post(reverse("operations:healthz")).status_code == 405
