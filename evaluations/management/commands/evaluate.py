"""`manage.py evaluate`: evaluate a model on benchmarks, store the run, optionally write JSON."""
from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from evaluations import selectors
from evaluations.models import Run, RunStatus
from evaluations.management.commands._options import add_run_arguments, ensure_migrated, plan_from_options, run_owner
from evaluations.services import runs, shards
from runner.errors import BenchsiteError

USAGE_ERROR = 2
BUDGET_REACHED = 3  # stopped cleanly by --budget-usd: the samples before the stop are stored, scores are partial


class Command(BaseCommand):
    help = "Evaluate a model (registered name, local path or hub id) on one or more benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        add_run_arguments(parser)
        parser.add_argument("--output", type=Path, default=None, help="write the result JSON here")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:
        output: Path | None = options["output"]
        if output is not None and not output.parent.exists():
            raise CommandError(f"output folder {output.parent} does not exist", returncode=USAGE_ERROR)
        ensure_migrated(self.stderr)
        try:
            plan = plan_from_options(options)
            run = runs.run_create(plan=plan, user=run_owner(options), is_private=options["private"])
        except BenchsiteError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from None
        judge = plan.config.get("judge")
        judged_by = f", judged by {judge['name']} ({judge['backend']})" if judge else ""
        self.stderr.write(
            f"run {run.pk}: {plan.model.name} on {', '.join(plan.requested)} ({plan.total} items{judged_by})"
        )
        bar = tqdm(total=plan.total, unit="item", disable=options["no_progress"], file=self.stderr._out)
        try:
            run = shards.run_execute_isolated(run=run, plan=plan,
                                              on_progress=lambda _run, slug, n: _advance(bar, slug, n))
        except BenchsiteError as exc:
            raise CommandError(f"run {run.pk} failed: {exc}", returncode=USAGE_ERROR) from None
        finally:
            # The items ran in a child process, whose bar was a copy: show the stored count here.
            bar.n = Run.objects.filter(pk=run.pk).values_list("done", flat=True).first() or bar.n
            bar.close()
        payload = selectors.run_result_payload(run=run)
        if output is not None:
            output.write_text(json.dumps(payload, indent=2))
        stopped = run.status == RunStatus.BUDGET_REACHED
        for slug, metrics in (payload["partial_scores"] if stopped else payload["scores"]).items():
            line = ", ".join(f"{name} {m['value']:.4f}" + (f" ± {m['stderr']:.4f}" if m["stderr"] else "")
                             for name, m in metrics.items())
            partial = " partial" if stopped else ""
            self.stdout.write(f"{slug}: {line} (n={next(iter(metrics.values()))['n']}{partial})")
        reused = payload["response_cache"]
        if reused["cached"]:
            self.stdout.write(f"{reused['cached']} of {reused['samples']} samples answered from the response cache "
                              f"(saved ~{reused['saved_seconds']:.1f} s of model time; --no-response-cache recomputes)")
        if payload["spend"]:
            self.stdout.write(_spend_line(payload["spend"]))
        if stopped:
            raise CommandError(f"run {run.pk} stopped: {run.error}", returncode=BUDGET_REACHED)
        self.stdout.write(f"run {run.pk} finished; config hash {run.config_hash}")


def _spend_line(spend: dict) -> str:
    shown = spend["display"]
    budget = f" of a {shown['budget_usd']} budget" if shown["budget_usd"] else ""
    estimated = (f"; {spend['estimated_tokens']:,} of them counted by the backend, estimated, where the server "
                 "reported no usage" if spend["estimated_tokens"] else "")
    return (f"spend: {shown['usd']}{budget} ({spend['input_tokens']:,} input tokens at {shown['usd_per_1m_input']} "
            f"and {spend['output_tokens']:,} output tokens at {shown['usd_per_1m_output']} per 1M{estimated})")


def _advance(bar: tqdm, slug: str, count: int) -> None:
    bar.set_postfix_str(slug, refresh=False)
    bar.update(count)
