"""`manage.py run_status ID [--json]`: a run's status, progress and stored samples."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from evaluations import selectors
from evaluations.models import Run


class Command(BaseCommand):
    help = "Show a run's status; --json prints {status, done, total, samples}."

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_id", type=int)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options) -> None:
        run = Run.objects.select_related("model").filter(pk=options["run_id"]).first()
        if run is None:
            raise CommandError(f"no run {options['run_id']}", returncode=2)
        if options["json"]:
            self.stdout.write(json.dumps(selectors.run_status_payload(run=run)))
            return
        self.stdout.write(f"run {run.pk} {run.status}: {run.done}/{run.total} ({run.model.name}, queue {run.queue})")
        if run.error:
            self.stdout.write(f"error: {run.error}")
