"""The code sandbox on ordinary programs and on hostile ones.

Each hostile program exits 0 only if its attack worked, so a contained attack is a non-passing verdict; the
tests then check from outside that it ended in time, left no process and changed nothing.
"""
from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from runner import sandbox
from runner.sandbox import (
    ERROR,
    FAILED,
    MEMORY,
    NOBODY,
    PASSED,
    TIMEOUT,
    WORKDIR,
    SandboxLimits,
    SandboxUnavailable,
    run_program,
    run_programs,
)

REPO = Path(__file__).resolve().parents[2]
HOST_TMP = Path("/tmp")
LIMITS = SandboxLimits(timeout_s=3.0, memory_mb=256)
GRACE_S = 2.0


@pytest.fixture
def marker() -> str:
    return f"benchsite-escape-{uuid.uuid4().hex}"


@pytest.fixture
def host_paths(marker):
    """Places outside the sandbox a program might try to write; removed afterwards whatever happened."""
    paths = {"tmp": HOST_TMP / marker, "repo": REPO / marker}
    yield paths
    for path in paths.values():
        path.unlink(missing_ok=True)


def sandbox_processes() -> list[psutil.Process]:
    """Live processes a sandbox could have left: bubblewrap, the program, or anything running as nobody."""
    found = []
    for process in psutil.process_iter(["uids", "cmdline", "status"]):
        info = process.info
        if info["status"] == psutil.STATUS_ZOMBIE or info["uids"] is None:
            continue  # a zombie runs nothing; reaping it is its adoptive parent's job
        command = " ".join(info["cmdline"] or [])
        if f"{WORKDIR}/program.py" in command or command.startswith(sandbox.BWRAP_PATH) or (
            os.geteuid() == 0 and info["uids"].real == NOBODY
        ):
            found.append(process)
    return found


def run_hostile(source: str, limits: SandboxLimits = LIMITS):
    """Run an attack and check the things every attack must leave true."""
    started = time.monotonic()
    verdict = run_program(source, limits)
    elapsed = time.monotonic() - started
    assert verdict.status != PASSED, verdict
    assert elapsed <= limits.timeout_s + GRACE_S, (elapsed, verdict)
    assert sandbox_processes() == []
    return verdict


# -- ordinary programs ----------------------------------------------------------------------------
def test_a_passing_program_passes_with_its_output_captured():
    verdict = run_program("print('hello from the sandbox')\nimport sys; print('to stderr', file=sys.stderr)", LIMITS)
    assert verdict.status == PASSED and verdict.returncode == 0 and verdict.passed
    assert verdict.stdout_tail == "hello from the sandbox\n"
    assert verdict.stderr_tail == "to stderr\n"
    assert 0 < verdict.duration_s < LIMITS.timeout_s


@pytest.mark.parametrize(("source", "status", "reason"), [
    ("assert 1 + 1 == 3", FAILED, "assertion failed"),
    ("def broken(:\n    pass", ERROR, "SyntaxError"),
    ("raise ValueError('no')", ERROR, "ValueError"),
    ("import sys\nsys.exit(3)", ERROR, "exit code 3"),
])
def test_non_passing_programs_are_classified(source, status, reason):
    verdict = run_program(source, LIMITS)
    assert (verdict.status, verdict.reason) == (status, reason)
    assert verdict.returncode != 0


def test_program_runs_as_an_unprivileged_user_in_a_fresh_folder_with_an_empty_environment():
    program = f"""
import os
assert os.getuid() == {NOBODY if os.geteuid() == 0 else os.getuid()}, os.getuid()
assert os.getcwd() == {WORKDIR!r} and os.listdir(".") == ["program.py"], os.listdir(".")
assert set(os.environ) <= {{"PATH", "HOME", "LANG", "PWD"}}, dict(os.environ)
with open("scratch.txt", "w") as handle:
    handle.write("the working folder is writable")
"""
    verdict = run_program(program, LIMITS)
    assert verdict.status == PASSED, verdict


def test_programs_run_two_at_a_time_and_keep_their_order():
    sources = [f"import time; time.sleep(1); print({n})" for n in range(4)]
    started = time.monotonic()
    verdicts = run_programs(sources, LIMITS, workers=2)
    elapsed = time.monotonic() - started
    assert [v.stdout_tail for v in verdicts] == ["0\n", "1\n", "2\n", "3\n"]
    assert elapsed < 4 * 1.0 + 1.5  # four one-second sleeps, two at a time


def test_temporary_folders_are_removed(tmp_path):
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("benchsite-sandbox-*"))
    run_program("open('leftover.txt', 'w').write('x' * 1000)", LIMITS)
    after = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("benchsite-sandbox-*"))
    assert after <= before


# -- hostile programs -----------------------------------------------------------------------------
def test_fork_bomb_is_killed_at_the_deadline_with_all_its_processes():
    verdict = run_hostile("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n")
    assert verdict.status == TIMEOUT


def test_process_limit_binds_inside_the_sandbox():
    verdict = run_hostile(f"""
import os, time
for _ in range({LIMITS.max_processes * 3}):
    if os.fork() == 0:
        time.sleep(30)
        os._exit(0)
""")
    assert verdict.status == ERROR and verdict.reason == "BlockingIOError", verdict


def test_ten_gigabyte_allocation_is_a_memory_verdict():
    verdict = run_hostile("block = bytearray(10 * 1024**3)\nprint(len(block))")
    assert verdict.status == MEMORY and "MemoryError" in verdict.stderr_tail


def test_infinite_loop_times_out_at_the_deadline():
    verdict = run_hostile("while True:\n    pass\n")
    assert verdict.status == TIMEOUT
    assert LIMITS.timeout_s <= verdict.duration_s <= LIMITS.timeout_s + GRACE_S


def test_unbounded_output_is_cut_at_the_byte_cap():
    limits = SandboxLimits(timeout_s=10.0, memory_mb=256, max_output_bytes=100_000)
    verdict = run_hostile("while True:\n    print('x' * 1000)\n", limits)
    assert verdict.status == ERROR and verdict.reason == "output over 100000 bytes"
    assert verdict.duration_s < limits.timeout_s  # killed on the cap, not at the deadline
    assert len(verdict.stdout_tail) <= sandbox.TAIL_BYTES


def test_writes_outside_the_temporary_folder_change_nothing(marker, host_paths):
    canary = HOST_TMP / f"{marker}-canary"
    canary.write_text("only the host's /tmp has this")
    try:
        verdict = run_hostile(f"""
import os, sys
landed = []
for path in ({str(host_paths['tmp'])!r}, {str(host_paths['repo'])!r}):
    try:
        with open(path, "w") as handle:
            handle.write("escaped")
        landed.append(path)
    except OSError:
        pass
# The sandbox has a /tmp of its own: a write there counts only if it is the host's, which holds the canary.
on_host = os.path.exists({str(canary)!r}) or {str(host_paths['repo'])!r} in landed
sys.exit(0 if landed and on_host else 1)
""")
    finally:
        canary.unlink()
    assert verdict.status == ERROR and verdict.returncode == 1
    assert not host_paths["tmp"].exists() and not host_paths["repo"].exists()


def test_network_connections_go_nowhere(marker):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    redis_names = _watch_redis_client_names()
    program = f"""
import socket, sys, time
connected = []
for port in ({port}, 6379):
    try:
        connection = socket.create_connection(("127.0.0.1", port), timeout=1)
    except OSError as exc:
        print(port, exc)
        continue
    connection.sendall(b"CLIENT SETNAME {marker}\\r\\n")
    connected.append(port)
time.sleep(1)  # long enough to be seen in CLIENT LIST
sys.exit(0 if connected else 1)
"""
    try:
        verdict = run_hostile(program)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody knocked
    finally:
        listener.close()
        seen = redis_names.stop()
    assert verdict.status == ERROR and verdict.returncode == 1
    assert "Connection refused" in verdict.stdout_tail
    assert marker not in seen


class _RedisNames:
    """Client names seen in Redis's CLIENT LIST while a program runs (None when Redis is not there)."""

    def __init__(self, client) -> None:
        self.client, self.names, self.running = client, set(), True
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while self.running:
            self.names.update(client.get("name", "") for client in self.client.client_list())
            time.sleep(0.1)

    def stop(self) -> set[str]:
        self.running = False
        self.thread.join()
        return self.names


def _watch_redis_client_names() -> _RedisNames:
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1, decode_responses=True)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return _RedisNames(client)


def test_detached_child_does_not_outlive_the_sandbox(host_paths):
    # The attack is to outlive the sandbox, which the program cannot observe itself: it reports failure, and
    # the test checks from outside that the grandchild never got to write.
    verdict = run_hostile(f"""
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1)
        for path in ({str(host_paths['tmp'])!r}, {str(host_paths['repo'])!r}):
            try:
                open(path, "w").write("outlived the sandbox")
            except OSError:
                pass
        time.sleep(30)
    os._exit(0)
sys.exit(1)
""")
    assert verdict.status == ERROR
    time.sleep(2)
    assert sandbox_processes() == []
    assert not host_paths["tmp"].exists() and not host_paths["repo"].exists()


def test_secrets_in_the_parent_environment_are_invisible(monkeypatch, marker):
    monkeypatch.setenv("BENCHSITE_TEST_SECRET", marker)
    verdict = run_hostile(f"""
import os, sys
found = any({marker!r} in value for value in os.environ.values())
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        found = found or {marker!r}.encode() in open(f"/proc/{{pid}}/environ", "rb").read()
    except OSError:
        pass
sys.exit(0 if found else 1)
""")
    assert verdict.status == ERROR and verdict.returncode == 1


def test_os_system_reached_through_object_subclasses_stays_inside(host_paths):
    verdict = run_hostile(f"""
import sys
wrap_close = next(c for c in ().__class__.__base__.__subclasses__() if c.__name__ == "_wrap_close")
system = wrap_close.__init__.__globals__["system"]
status = system("echo escaped > {host_paths['repo']}")
sys.exit(0 if status == 0 else 1)
""")
    assert verdict.status == ERROR and verdict.returncode == 1
    assert "cannot create" in verdict.stderr_tail  # the shell ran, inside, and found no repository there
    assert not host_paths["repo"].exists()


# -- refusing to run unsandboxed --------------------------------------------------------------------
@pytest.mark.parametrize(("bwrap", "message"), [
    ("/nonexistent/bwrap", "bubblewrap not found at /nonexistent/bwrap"),
    ("/bin/false", "bubblewrap cannot create its namespaces here"),
])
def test_without_a_working_bubblewrap_nothing_runs(monkeypatch, host_paths, bwrap, message):
    monkeypatch.setattr(sandbox, "BWRAP_PATH", bwrap)
    with pytest.raises(SandboxUnavailable, match=f"refusing to run model-written code: {message}"):
        run_program(f"open({str(host_paths['tmp'])!r}, 'w').write('ran unsandboxed')", LIMITS)
    assert not host_paths["tmp"].exists()
