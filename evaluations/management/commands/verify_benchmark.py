"""`manage.py verify_benchmark SLUG [--json]`: check that a benchmark's answer key is sound.

Coding benchmarks run each item's reference solution through the benchmark's own scorer (so the sandbox,
the program assembly and the tests are checked together); multiple-choice and generation benchmarks check
that every item has a usable answer. Exit code 0 when every item is sound, 1 when some are not, 2 on bad input.
"""
from __future__ import annotations

import dataclasses
import json
import os
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluations.services.scoring import score_context
from runner.engine import PreparedItem, prepare_task
from runner.errors import BenchsiteError
from runner.registry import SCORERS, ScoreContext
from runner.catalog import MULTIPLE_CHOICE, TaskSpec, expand

USAGE_ERROR = 2
SOME_ITEMS_BAD = 1
# Each program mostly waits on its own sandbox starting up and stopping: twice as many as cores keeps them busy.
PARALLEL_PROGRAMS = 2 * (os.cpu_count() or 1)
# MBPP 123's reference solution needs several seconds of CPU; the evaluation timeout would fail it on a busy host.
REFERENCE_TIMEOUT_S = 60.0


class Command(BaseCommand):
    help = "Verify a benchmark's answer key: reference solutions pass (coding), gold answers are valid (others)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("benchmark", help="a benchmark or group slug, e.g. humaneval, mbpp, arc_easy, mmlu")
        parser.add_argument("--limit", type=int, default=None, help="first N items of each (sub)task")
        parser.add_argument("--jobs", type=int, default=PARALLEL_PROGRAMS,
                            help=f"programs run at once (default {PARALLEL_PROGRAMS}, twice the cores)")
        parser.add_argument("--json", action="store_true", help="end with {passed, total, bad_items} as JSON")
        parser.add_argument("--timeout", type=float, default=REFERENCE_TIMEOUT_S,
                            help="seconds per reference program (correctness is checked here, not speed)")

    def handle(self, *args, **options) -> None:
        slug = options["benchmark"]
        try:
            specs = [spec for _, group in expand([slug]) for spec in group]
        except BenchsiteError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from None
        if any(spec.requires_execution for spec in specs) and not settings.BENCHSITE_CODE_EXECUTION:
            raise CommandError(
                f"{slug} runs its reference solutions; set BENCHSITE_CODE_EXECUTION=1 to allow the sandbox",
                returncode=USAGE_ERROR,
            )
        if not options["timeout"] > 0:
            raise CommandError("--timeout must be positive", returncode=USAGE_ERROR)
        context = dataclasses.replace(score_context(), execution_timeout_s=options["timeout"])
        passed, total, bad_items = 0, 0, []
        try:
            for spec in specs:
                items = prepare_task(spec, limit=options["limit"]).items
                problems = _problems(spec, items, context, jobs=options["jobs"])
                bad = [{"task": spec.slug, "doc_id": item.doc_id, "problem": problem}
                       for item, problem in zip(items, problems) if problem]
                passed, total, bad_items = passed + len(items) - len(bad), total + len(items), bad_items + bad
                self.stderr.write(f"{spec.slug}: {len(items) - len(bad)}/{len(items)} sound")
        except BenchsiteError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from None
        summary = {"benchmark": slug, "passed": passed, "total": total, "bad_items": bad_items}
        self.stdout.write(json.dumps(summary) if options["json"] else f"{slug}: {passed}/{total} items sound")
        if bad_items:
            raise CommandError(f"{len(bad_items)} of {total} items failed verification", returncode=SOME_ITEMS_BAD)


def _problems(spec: TaskSpec, items: list[PreparedItem], context: ScoreContext, *, jobs: int) -> list[str]:
    """One entry per item: "" when it is sound, else what is wrong with it."""
    if spec.scorer and spec.requires_execution:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            return list(pool.map(lambda item: _reference_problem(spec, item, context), items))
    if spec.scorer and any("reference_solution" in item.doc.extra for item in items):  # BFCL's possible answers
        return [_reference_problem(spec, item, context) for item in items]
    return [_answer_problem(spec, item) for item in items]


def _reference_problem(spec: TaskSpec, item: PreparedItem, context: ScoreContext) -> str:
    reference = item.doc.extra.get("reference_solution")
    if reference is None:
        return "no reference solution"
    result = SCORERS[spec.scorer](item.doc, [reference], context)
    score = result.metrics.get(spec.primary_metric)
    if score == 1.0:
        return ""
    failures = [test.get("reason") or test.get("status", "") for test in result.details.get("tests", [])]
    if result.details.get("error_type"):  # a checker's verdict (BFCL) rather than program tests
        failures = [f"{result.details['error_type']}: {(result.details.get('error') or [''])[0]}"]
    return f"reference solution scored {spec.primary_metric}={score}" + (f": {failures[0]}" if failures else "")


def _answer_problem(spec: TaskSpec, item: PreparedItem) -> str:
    doc = item.doc
    if spec.output_type == MULTIPLE_CHOICE:
        options = doc.contexts if doc.multiple_input else doc.choices
        if not options:
            return "no choices"
        if not isinstance(doc.gold, int) or not 0 <= doc.gold < len(options):
            return f"gold {doc.gold!r} is not an index into {len(options)} choices"
        if doc.multiple_input and not doc.target_text.strip():
            return "empty continuation"
        return ""
    if spec.scorer:  # judged or rule-checked: what must exist is something to ask
        return "" if doc.text.strip() or doc.extra.get("turns") else "empty prompt"
    return "" if (doc.target_text or str(doc.gold)).strip() else "empty target"
