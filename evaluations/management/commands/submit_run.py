"""`manage.py submit_run`: plan a run, store it queued and enqueue its shards; prints the run id last."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluations.management.commands._options import add_run_arguments, ensure_migrated, plan_from_options, run_owner
from evaluations.services import runs
from runner.errors import BenchsiteError


class Command(BaseCommand):
    help = "Submit a run to the Celery workers (the queue is chosen by the run's memory estimate)."

    def add_arguments(self, parser: CommandParser) -> None:
        add_run_arguments(parser)

    def handle(self, *args, **options) -> None:
        ensure_migrated(self.stderr)
        try:
            run, created = runs.run_submit(plan=plan_from_options(options), user=run_owner(options),
                                           is_private=options["private"])
        except BenchsiteError as exc:
            raise CommandError(str(exc), returncode=2) from None
        state = "queued" if created else "already active (identical submission)"
        self.stderr.write(f"run {run.pk} {state} on queue {run.queue}: {run.total} items in "
                          f"{run.shards.count()} shards")
        self.stdout.write(str(run.pk))
