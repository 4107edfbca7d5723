"""`manage.py load_test`: latency and throughput of a served model at a few concurrency levels."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluations import performance

from evaluations.services import model_entries
from runner.backends import load_backend
from runner.errors import BenchsiteError
from runner.loadgen import LevelResult, run_load_test

USAGE_ERROR = 2


class Command(BaseCommand):
    help = "Drive an OpenAI-compatible server at fixed concurrency levels and print the latency curve."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8000/v1")
        parser.add_argument("--model", default=None, help="served model name (default: the only one served)")
        parser.add_argument("--api-key", default=None, help="default: $OPENAI_API_KEY")
        parser.add_argument("--concurrency", default="1,2,4,8", help="comma-separated levels")
        parser.add_argument("--requests", type=int, default=16, help="requests per level")
        parser.add_argument("--max-tokens", type=int, default=64)
        parser.add_argument("--chat", action="store_true", help="use /v1/chat/completions")
        parser.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
        parser.add_argument("--json", action="store_true", help="end with the curve as one JSON line")
        parser.add_argument("--no-store", action="store_true",
                            help="do not store the curve as a performance profile of the endpoint's model entry")

    def handle(self, *args, **options) -> None:
        try:
            levels = [int(level) for level in options["concurrency"].split(",") if level.strip()]
            backend = load_backend("openai", options["base_url"], model=options["model"], api_key=options["api_key"],
                                   timeout_s=options["timeout"], retries=0)
            curve = run_load_test(backend, concurrency_levels=levels, requests_per_level=options["requests"],
                                  max_tokens=options["max_tokens"], chat=options["chat"])
            profile = None
            if not options["no_store"]:
                reference = options["base_url"] + (f"#{options['model']}" if options["model"] else "")
                model = model_entries.model_resolve(reference=reference)
                profile = performance.profile_store_load_curve(model=model, curve=curve.as_dict())
        except (BenchsiteError, ValueError) as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from None
        self.stdout.write(f"{curve.model} at {curve.base_url}, {curve.max_tokens} max tokens"
                          + (f" (stored as profile {profile.pk} of {profile.model.name})" if profile else ""))
        self.stdout.write("concurrency  ok/sent  req/s  tok/s  latency p50/p95/p99 ms  TTFT p50/p95/p99 ms")
        for level in curve.levels:
            self.stdout.write(_row(level))
        if options["json"]:
            self.stdout.write(json.dumps(curve.as_dict()))


def _row(level: LevelResult) -> str:
    def triple(percentiles) -> str:
        return "-" if percentiles is None else f"{percentiles.p50:.0f}/{percentiles.p95:.0f}/{percentiles.p99:.0f}"

    line = (f"{level.concurrency:>11}  {level.succeeded:>3}/{level.requests:<3}  {level.requests_per_s:5.2f}  "
            f"{level.output_tokens_per_s:5.1f}  {triple(level.latency_ms):>22}  {triple(level.first_token_ms):>18}")
    return line + (f"  errors: {'; '.join(level.errors)}" if level.errors else "")
