"""`manage.py evaluate`: evaluate a model on benchmarks, store the run, optionally write JSON."""
from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from evaluations import selectors
from evaluations.models import Run
from evaluations.management.commands._options import add_run_arguments, ensure_migrated, plan_from_options, run_owner
from evaluations.services import runs, shards
from runner.errors import BenchsiteError

USAGE_ERROR = 2


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
        for slug, metrics in payload["scores"].items():
            line = ", ".join(f"{name} {m['value']:.4f}" + (f" ± {m['stderr']:.4f}" if m["stderr"] else "")
                             for name, m in metrics.items())
            self.stdout.write(f"{slug}: {line} (n={next(iter(metrics.values()))['n']})")
        reused = payload["response_cache"]
        if reused["cached"]:
            self.stdout.write(f"{reused['cached']} of {reused['samples']} samples answered from the response cache "
                              f"(saved ~{reused['saved_seconds']:.1f} s of model time; --no-response-cache recomputes)")
        self.stdout.write(f"run {run.pk} finished; config hash {run.config_hash}")


def _advance(bar: tqdm, slug: str, count: int) -> None:
    bar.set_postfix_str(slug, refresh=False)
    bar.update(count)
