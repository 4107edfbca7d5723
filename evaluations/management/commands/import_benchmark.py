"""`manage.py import_benchmark SPEC`: validate and import a custom benchmark (YAML/JSON spec + JSONL)."""
from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluations.custom_benchmarks import benchmark_import
from runner.custom import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, CustomBenchmarkInvalid
from runner.errors import BenchsiteError

USAGE_ERROR = 2


class Command(BaseCommand):
    help = "Import a custom benchmark; see docs/custom-benchmarks.md for the spec format."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("spec", type=Path, help="the benchmark's .yaml/.yml/.json spec")
        parser.add_argument("--json", action="store_true", help="print the result (or the errors) as JSON")
        parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help="largest data file accepted")
        parser.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS, help="most rows accepted")

    def handle(self, *args, **options) -> None:
        try:
            result = benchmark_import(spec_path=options["spec"], max_bytes=options["max_bytes"],
                                      max_rows=options["max_rows"])
        except CustomBenchmarkInvalid as exc:
            if options["json"]:
                self.stdout.write(json.dumps({"errors": [problem.as_dict() for problem in exc.problems]}, indent=2))
            for problem in exc.problems:
                self.stderr.write(str(problem))
            raise CommandError(f"{len(exc.problems)} problem(s); nothing imported", returncode=USAGE_ERROR) from None
        except BenchsiteError as exc:
            if options["json"]:
                self.stdout.write(json.dumps({"errors": [{"file": None, "line": None, "message": str(exc)}]}))
            raise CommandError(str(exc), returncode=USAGE_ERROR) from None
        benchmark = result.benchmark
        payload = {"slug": benchmark.slug, "version": benchmark.version, "content_hash": result.content_hash,
                   "items": result.items, "created": result.created}
        if options["json"]:
            self.stdout.write(json.dumps(payload, indent=2))
            return
        state = "imported" if result.created else "already imported, unchanged"
        self.stdout.write(f"{benchmark.slug} v{benchmark.version}: {result.items} items, "
                          f"hash {result.content_hash} ({state})")
