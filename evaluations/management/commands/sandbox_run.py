"""`manage.py sandbox_run FILE.py`: run a program exactly as the coding scorers do; the last line is its verdict."""
from __future__ import annotations

import json
import math
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from runner.errors import BenchsiteError
from runner.sandbox import SandboxLimits, run_program

USAGE_ERROR = 2
MIN_MEMORY_MB = 32  # below this the interpreter itself cannot start


class Command(BaseCommand):
    help = "Run a Python file in the code sandbox; prints a JSON verdict (status, returncode, ...) as the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the Python program to run")
        # Parsed here rather than by argparse, so a bad value is one error line, not a usage dump.
        parser.add_argument("--timeout", default=None, help="seconds (default BENCHSITE_SANDBOX_TIMEOUT_S)")
        parser.add_argument("--memory-mb", default=None, help="address space in MB (default BENCHSITE_SANDBOX_MEMORY_MB)")

    def handle(self, *args, **options) -> None:
        if not settings.BENCHSITE_CODE_EXECUTION:
            raise CommandError(
                "code execution is off: set BENCHSITE_CODE_EXECUTION=1 to run programs in the sandbox",
                returncode=USAGE_ERROR,
            )
        limits = SandboxLimits(
            timeout_s=_positive(options["timeout"], settings.BENCHSITE_SANDBOX_TIMEOUT_S, "--timeout", float),
            memory_mb=_positive(options["memory_mb"], settings.BENCHSITE_SANDBOX_MEMORY_MB, "--memory-mb", int),
        )
        if limits.memory_mb < MIN_MEMORY_MB:
            raise CommandError(f"--memory-mb must be at least {MIN_MEMORY_MB}", returncode=USAGE_ERROR)
        source = _read_program(Path(options["file"]))
        try:
            verdict = run_program(source, limits)
        except BenchsiteError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from None
        self.stdout.write(f"{verdict.status} in {verdict.duration_s:.3f} s" + (f" ({verdict.reason})" if verdict.reason else ""))
        self.stdout.write(json.dumps(verdict.as_dict()))


def _positive(raw: str | None, default, name: str, kind: type):
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise CommandError(f"{name} must be a number, got {raw!r}", returncode=USAGE_ERROR) from None
    if not (math.isfinite(value) and value > 0):
        raise CommandError(f"{name} must be a finite positive number, got {raw!r}", returncode=USAGE_ERROR)
    return value


def _read_program(path: Path) -> str:
    if not path.is_file():
        raise CommandError(f"no such file: {path}", returncode=USAGE_ERROR)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}", returncode=USAGE_ERROR) from None
