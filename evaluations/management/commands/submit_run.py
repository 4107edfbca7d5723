"""`manage.py submit_run`: plan a run, store it queued and enqueue its shards; prints the run id last."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluations import services
from evaluations.management.commands._options import add_run_arguments, plan_from_options
from runner.errors import BenchsiteError


class Command(BaseCommand):
    help = "Submit a run to the Celery workers (the queue is chosen by the run's memory estimate)."

    def add_arguments(self, parser: CommandParser) -> None:
        add_run_arguments(parser)
        parser.add_argument("--private", action="store_true", help="stream progress only to the owner")

    def handle(self, *args, **options) -> None:
        try:
            run, created = services.run_submit(plan=plan_from_options(options), is_private=options["private"])
        except BenchsiteError as exc:
            raise CommandError(str(exc), returncode=2) from None
        state = "queued" if created else "already active (identical submission)"
        self.stderr.write(f"run {run.pk} {state} on queue {run.queue}: {run.total} items in "
                          f"{run.shards.count()} shards")
        self.stdout.write(str(run.pk))
