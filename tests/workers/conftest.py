"""Real Celery workers (and beat) as subprocesses against the real PostgreSQL test database and Redis."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import redis
from django.db import connection

REPO = Path(__file__).resolve().parents[2]
TEST_ENV = {
    "BENCHSITE_VISIBILITY_TIMEOUT": "10",
    "BENCHSITE_SHARD_STALE_SECONDS": "12",
    "BENCHSITE_SWEEP_SECONDS": "4",
    "BENCHSITE_HEARTBEAT_SECONDS": "2",
    "BENCHSITE_SHARD_SIZE": "20",
}


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.5,
             logs: "Cluster | None" = None) -> None:
    """Poll until `condition` holds; on a timeout, the workers' logs go into the failure message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    message = f"timed out after {timeout:.0f}s waiting for {what}"
    if logs is not None:
        message += "".join(f"\n--- {path.name} (last 40 lines)\n" + "\n".join(
            path.read_text(errors="replace").splitlines()[-40:]) for path in sorted(logs.logs.glob("*.log")))
    raise AssertionError(message)


class Cluster:
    """Starts and kills worker processes; each in its own process group so kill -9 takes the pool too."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: dict[str, subprocess.Popen] = {}

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.celery_app", *args], cwd=REPO, env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.processes[name] = process
        return process

    def start_worker(self, name: str, *, queues: str = "cpu", concurrency: int = 1) -> subprocess.Popen:
        return self._start(name, ["worker", "-Q", queues, "-c", str(concurrency), "-n", f"{name}@%h",
                                  "--without-mingle", "--without-gossip", "-l", "info"])

    def start_beat(self) -> subprocess.Popen:
        return self._start("beat", ["beat", "-l", "info", "-s", str(self.logs / "beat-schedule")])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.kill(name)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


@pytest.fixture
def cluster(transactional_db, settings, tmp_path):
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL); `.ci/run` sets both")
    for key, value in TEST_ENV.items():
        setattr(settings, key, int(value))
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.flushdb()  # no messages left over from an earlier test
    db = connection.settings_dict
    env = {
        **os.environ,
        **TEST_ENV,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "HF_HUB_OFFLINE": "1",
    }
    running = Cluster(env, tmp_path)
    yield running
    running.stop_all()
    broker.flushdb()
