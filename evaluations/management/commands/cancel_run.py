"""`manage.py cancel_run ID`: stop a queued or running run."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from evaluations.services import runs
from evaluations.models import Run


class Command(BaseCommand):
    help = "Cancel a queued or running run; workers stop it at their next checkpoint."

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_id", type=int)

    def handle(self, *args, **options) -> None:
        run = Run.objects.filter(pk=options["run_id"]).first()
        if run is None:
            raise CommandError(f"no run {options['run_id']}", returncode=2)
        if not runs.run_cancel(run=run):
            raise CommandError(f"run {run.pk} is already {run.status}", returncode=2)
        self.stdout.write(f"run {run.pk} cancelled")
