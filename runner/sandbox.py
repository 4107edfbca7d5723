"""Run an untrusted Python program (model-written code plus its tests) and say whether it passed.

Every program runs in a bubblewrap sandbox: fresh namespaces (no network, its own PIDs), a read-only view
of the system and the interpreter, a small writable tmpfs as its working folder, an empty environment, an
unprivileged user, rlimits, a byte cap on its output and a wall-clock deadline. docs/sandbox.md explains
the threat model and what each limit is for.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import psutil

from runner.errors import BenchsiteError

PASSED, FAILED, TIMEOUT, MEMORY, ERROR = "passed", "failed", "timeout", "memory", "error"

BWRAP_PATH = shutil.which("bwrap") or "/usr/bin/bwrap"
# Root must not run the program: RLIMIT_NPROC does not bind uid 0, and root's files would be its files.
NOBODY = 65534
WORKDIR = "/sandbox"
SANDBOX_PATH = "/usr/bin:/bin"
TAIL_BYTES = 4096
MEMORY_ERRORS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Iteration))(?::|$)")

# Runs first inside the sandbox: set the limits, then run the program in the same interpreter (one start-up,
# not two). NPROC is set here, after bubblewrap made the user namespace, so it counts only this sandbox's
# processes, not every process of the uid.
_BOOTSTRAP = """\
import resource, runpy, sys
cpu, address_space, processes, file_bytes, open_files = map(int, sys.argv[1:6])
for name, value in (("CPU", cpu), ("AS", address_space), ("NPROC", processes), ("FSIZE", file_bytes),
                    ("NOFILE", open_files), ("CORE", 0)):
    hard = cpu + 1 if name == "CPU" else value
    resource.setrlimit(getattr(resource, "RLIMIT_" + name), (value, hard))
sys.argv = sys.argv[6:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


class SandboxUnavailable(BenchsiteError):
    """bubblewrap is missing or cannot create namespaces here; nothing is run without it."""


class CodeExecutionDisabled(BenchsiteError):
    """A scorer was asked to run model-written code while settings.BENCHSITE_CODE_EXECUTION is off."""


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 10.0  # wall clock, for the whole process tree; CPU time is capped at the same
    memory_mb: int = 1024  # address space of each process
    max_processes: int = 32  # processes and threads in the sandbox (RLIMIT_NPROC)
    max_open_files: int = 64
    max_file_bytes: int = 16 * 1024 * 1024  # any one file the program writes
    max_output_bytes: int = 1024 * 1024  # stdout and stderr together; the program is killed past it
    workdir_bytes: int = 64 * 1024 * 1024  # size of the writable tmpfs folders (working folder and /tmp)


@dataclass(frozen=True)
class Verdict:
    status: str  # PASSED, FAILED (an assertion failed), TIMEOUT, MEMORY or ERROR
    returncode: int | None
    duration_s: float
    stdout_tail: str
    stderr_tail: str
    reason: str = ""  # why it did not pass, in a few words

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def as_dict(self) -> dict:
        return asdict(self)


def run_program(source: str, limits: SandboxLimits = SandboxLimits(), *, allow_unsandboxed: bool = False) -> Verdict:
    """Run `source` as a Python script in a fresh sandbox and classify how it ended.

    Without bubblewrap this refuses (SandboxUnavailable) unless `allow_unsandboxed` is set, which keeps the
    rlimits, the user switch and the deadline but loses the namespaces: no code path in benchsite sets it.
    """
    problem = sandbox_problem(BWRAP_PATH)
    if problem and not allow_unsandboxed:
        raise SandboxUnavailable(f"refusing to run model-written code: {problem}")
    with tempfile.TemporaryDirectory(prefix="benchsite-sandbox-") as folder:
        program = Path(folder) / "program.py"
        program.write_text(source, encoding="utf-8")
        program.chmod(0o644)
        os.chmod(folder, 0o755)
        if problem:
            if os.geteuid() == 0:
                os.chown(folder, NOBODY, NOBODY)
            return _run(_bootstrap_command(sandbox_interpreter(), limits, str(program)), folder, limits,
                        note="unsandboxed")
        info_read, info_write = os.pipe()
        try:
            command = _bwrap_command(program, limits, info_write)
            return _run(command, "/", limits, info=(info_read, info_write))
        finally:
            os.close(info_read)


def run_programs(sources: Sequence[str], limits: SandboxLimits = SandboxLimits(), *, workers: int = 2) -> list[Verdict]:
    """Several programs, `workers` at a time, verdicts in input order."""
    if len(sources) <= 1 or workers <= 1:
        return [run_program(source, limits) for source in sources]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda source: run_program(source, limits), sources))


@lru_cache(maxsize=8)
def sandbox_problem(bwrap: str) -> str:
    """Why programs cannot be sandboxed here ("" when they can): tries an empty sandbox once per process."""
    if not Path(bwrap).is_file() or not os.access(bwrap, os.X_OK):
        return f"bubblewrap not found at {bwrap} (install the `bubblewrap` package)"
    try:
        interpreter = sandbox_interpreter()
    except SandboxUnavailable as exc:
        return str(exc)
    probe = [*_bwrap_arguments(bwrap, interpreter, SandboxLimits()), interpreter, "-I", "-S", "-c", "pass"]
    try:
        result = subprocess.run(probe, capture_output=True, timeout=30, env=_minimal_env(), **_user_switch())
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap cannot start: {exc}"
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        return f"bubblewrap cannot create its namespaces here: {detail[-1] if detail else result.returncode}"
    return ""


@lru_cache(maxsize=1)
def sandbox_interpreter() -> str:
    """This process's Python when the sandbox user can reach it, else the system's python3.

    A Python under a private home (pyenv in /root) is out of nobody's reach; the system one runs the same
    standard library, which is all the benchmarks' programs import.
    """
    current = os.path.realpath(getattr(sys, "_base_executable", "") or sys.executable)
    candidates = [current, "/usr/bin/python3", "/usr/local/bin/python3"]
    for candidate in dict.fromkeys(os.path.realpath(path) for path in candidates):
        if Path(candidate).is_file() and _reachable_by_sandbox_user(candidate):
            return candidate
    raise SandboxUnavailable(f"no Python the sandbox user can run (tried {', '.join(candidates)})")


def _reachable_by_sandbox_user(path: str) -> bool:
    if os.geteuid() != 0:
        return os.access(path, os.X_OK)
    # nobody owns none of these files and is in none of their groups: only the "other" bits count.
    parts = Path(path).parents
    if not all(folder.stat().st_mode & stat.S_IXOTH for folder in parts):
        return False
    mode = Path(path).stat().st_mode
    return bool(mode & stat.S_IXOTH and mode & stat.S_IROTH)


def _user_switch() -> dict:
    if os.geteuid() != 0:
        return {}
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []}


def _minimal_env() -> dict[str, str]:
    # Not even bubblewrap sees our environment: its own /proc/<pid>/environ would be readable inside.
    return {"PATH": SANDBOX_PATH, "LANG": "C.UTF-8"}


def _bwrap_command(program: Path, limits: SandboxLimits, info_fd: int) -> list[str]:
    interpreter = sandbox_interpreter()
    inside = f"{WORKDIR}/program.py"
    return [
        *_bwrap_arguments(BWRAP_PATH, interpreter, limits, program=(str(program), inside), info_fd=info_fd),
        *_bootstrap_command(interpreter, limits, inside),
    ]


def _bwrap_arguments(bwrap: str, interpreter: str, limits: SandboxLimits, *, program: tuple[str, str] | None = None,
                     info_fd: int | None = None) -> list[str]:
    arguments = [
        bwrap,
        "--unshare-all", "--unshare-user", "--disable-userns",  # no network, own PIDs, IPC, hostname, users
        "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox",
        "--ro-bind", "/usr", "/usr",
    ]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            arguments += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            arguments += ["--ro-bind", top, top]
    arguments += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    prefix = str(Path(interpreter).parent.parent)
    if not prefix.startswith("/usr"):
        arguments += ["--ro-bind", prefix, prefix]
    arguments += [
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(limits.workdir_bytes), "--tmpfs", "/tmp",
        "--size", str(limits.workdir_bytes), "--tmpfs", WORKDIR,
    ]
    if program is not None:
        arguments += ["--ro-bind", *program]
    if info_fd is not None:  # bubblewrap writes the PID of the sandbox's init here
        arguments += ["--info-fd", str(info_fd)]
    return arguments + [
        "--remount-ro", "/",
        "--chdir", WORKDIR,
        "--clearenv", "--setenv", "PATH", SANDBOX_PATH, "--setenv", "HOME", WORKDIR, "--setenv", "LANG", "C.UTF-8",
        "--",
    ]


def _bootstrap_command(interpreter: str, limits: SandboxLimits, program: str) -> list[str]:
    cpu_s = max(1, math.ceil(limits.timeout_s))
    numbers = (cpu_s, limits.memory_mb * 1024 * 1024, limits.max_processes, limits.max_file_bytes,
               limits.max_open_files)
    return [interpreter, "-I", "-S", "-c", _BOOTSTRAP, *map(str, numbers), program]


def _run(command: list[str], cwd: str, limits: SandboxLimits, *, note: str = "",
         info: tuple[int, int] | None = None) -> Verdict:
    """Start the program, read its output until it ends or breaks a limit, then make sure nothing is left."""
    started = time.monotonic()
    deadline = started + limits.timeout_s
    try:
        process = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=_minimal_env(), start_new_session=True, pass_fds=info[1:] if info else (), **_user_switch(),
        )
    finally:
        if info:
            os.close(info[1])  # only bubblewrap writes to it
    streams = {"stdout": bytearray(), "stderr": bytearray(), "info": bytearray()}
    timed_out = over_output = False
    try:
        timed_out, over_output = _collect(process, streams, info[0] if info else None, deadline,
                                          limits.max_output_bytes)
    finally:
        _stop(process, _sandbox_init_pid(streams["info"]))
    duration = time.monotonic() - started
    stdout, stderr = (streams[name][-TAIL_BYTES:].decode("utf-8", "replace") for name in ("stdout", "stderr"))
    status, reason = _classify(process.returncode, stderr, timed_out, over_output, limits)
    if note:
        reason = f"{reason} ({note})" if reason else note
    return Verdict(status, process.returncode, round(duration, 3), stdout, stderr, reason)


def _collect(process: subprocess.Popen, streams: dict[str, bytearray], info_fd: int | None, deadline: float,
             max_output: int) -> tuple[bool, bool]:
    """Read the pipes until they close, the deadline passes or the output cap is hit: (timed_out, over_output)."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, "stdout")
    selector.register(process.stderr, selectors.EVENT_READ, "stderr")
    if info_fd is not None:
        selector.register(info_fd, selectors.EVENT_READ, "info")
    output = 0
    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True, False
            for key, _ in selector.select(timeout=min(remaining, 0.5)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                if key.data == "info":
                    streams["info"] += chunk
                    continue
                streams[key.data] += chunk[: max(0, max_output - output)]
                output += len(chunk)
                if output > max_output:
                    return False, True
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return True, False
        return False, False
    finally:
        selector.close()
        process.stdout.close()
        process.stderr.close()


def _sandbox_init_pid(info: bytes) -> int | None:
    try:
        return int(json.loads(info.decode() or "{}").get("child-pid") or 0) or None
    except ValueError:
        return None


def _stop(process: subprocess.Popen, init_pid: int | None) -> None:
    """Kill whatever still runs and return only once it is gone.

    When the sandbox's init dies the kernel kills every process in its PID namespace (double-forked and
    setsid'd ones too), and the init finishes exiting only after they have. bubblewrap may exit before its
    init does, so the init itself is waited for. Without an init (unsandboxed, or bubblewrap failed to
    start) the process group is all there is to kill.
    """
    init = _live_process(init_pid)
    if init is not None and process.returncode is None:
        init.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    if init is None or process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    if init is not None:
        _wait_for_exit(init)


def _live_process(pid: int | None) -> psutil.Process | None:
    try:
        return psutil.Process(pid) if pid else None
    except psutil.NoSuchProcess:
        return None


def _wait_for_exit(init: psutil.Process, timeout_s: float = 5.0) -> None:
    # A zombie has nothing left running; reaping it is the job of whoever adopted it.
    deadline = time.monotonic() + timeout_s
    with contextlib.suppress(psutil.NoSuchProcess):
        while init.status() != psutil.STATUS_ZOMBIE:
            if time.monotonic() > deadline:
                init.kill()
                deadline = float("inf")
            time.sleep(0.005)


def _classify(returncode: int, stderr: str, timed_out: bool, over_output: bool,
              limits: SandboxLimits) -> tuple[str, str]:
    if timed_out:
        return TIMEOUT, f"wall-clock limit of {limits.timeout_s:g} s"
    if over_output:
        return ERROR, f"output over {limits.max_output_bytes} bytes"
    if returncode == 0:
        return PASSED, ""
    # bubblewrap reports a program killed by signal N as 128 + N.
    signal_number = returncode - 128 if returncode > 128 else -returncode if returncode < 0 else 0
    if signal_number == signal.SIGXCPU:
        return TIMEOUT, f"CPU time limit of {math.ceil(limits.timeout_s)} s"
    exception = _last_exception(stderr)
    if exception == "AssertionError":
        return FAILED, "assertion failed"
    if exception.endswith("MemoryError") or any(marker in stderr for marker in MEMORY_ERRORS):
        return MEMORY, f"memory limit of {limits.memory_mb} MB"
    if exception:
        return ERROR, exception
    if signal_number in signal.valid_signals():
        return ERROR, f"killed by {signal.Signals(signal_number).name}"
    return ERROR, f"exit code {returncode}"


def _last_exception(stderr: str) -> str:
    for line in reversed(stderr.strip().splitlines()):
        match = _EXCEPTION_LINE.match(line)
        if match:
            return match.group(1)
    return ""
