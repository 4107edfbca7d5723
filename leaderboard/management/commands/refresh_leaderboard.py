"""`manage.py refresh_leaderboard [--all]`: bring the stored board up to date now.

Every board read does this for the models the database triggers marked as changed; run it after a bulk load
so the first visitor does not wait for the rebuild, or with --all to recompute every row from the scores.
"""
from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandParser

from leaderboard.services import board_rebuild, board_sync


class Command(BaseCommand):
    help = "Rebuild the stored leaderboard rows of changed models (--all: of every model)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="recompute every row, not only changed models")

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        models = board_rebuild() if options["all"] else board_sync()
        self.stdout.write(f"rebuilt the board rows of {models} model(s) in {time.perf_counter() - started:.1f} s")
