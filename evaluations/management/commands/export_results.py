"""`manage.py export_results DIR`: predictions, logs and metrics by model / benchmark / preset, with hashes."""
from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evaluations import exports, manifests


class Command(BaseCommand):
    help = ("Write every finished public run (--include-private: every finished run) under "
            "DIR/<model>/<benchmark>/<preset>/run-<id>/ (predictions.jsonl in the harness's samples format, "
            "metrics.json, results.json in the harness's results format, log.json), each run's signed manifest, "
            "and DIR/manifest.json: every file's sha256, signed with the site's key. --check DIR verifies an export.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("directory", type=Path)
        parser.add_argument("--model", help="only this model (slug)")
        parser.add_argument("--include-private", action="store_true")
        parser.add_argument("--check", action="store_true", help="verify an existing export instead of writing one")

    def handle(self, *args, **options) -> None:
        directory: Path = options["directory"]
        if options["check"]:
            self._check(directory)
            return
        if directory.exists() and any(directory.iterdir()):
            raise CommandError(f"{directory} is not empty; export into a new folder", returncode=2)
        runs = list(exports.runs_to_export(include_private=options["include_private"], model=options["model"]))
        if not runs:
            raise CommandError("no finished runs to export", returncode=2)
        document = exports.export_results(directory=directory, runs=runs)
        files = document["manifest"]["files"]
        self.stdout.write(f"exported {len(runs)} runs, {len(files)} files to {directory} "
                          f"(manifest.json signed by key {document['signature']['key_id']})")

    def _check(self, directory: Path) -> None:
        try:
            document = json.loads((directory / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {directory / 'manifest.json'}: {exc}", returncode=2) from exc
        signature = manifests.manifest_verify(document)
        problems = ([] if signature.valid else [f"manifest.json: {signature.reason}"]) + exports.export_check(directory)
        if problems:
            raise CommandError("export altered:\n" + "\n".join(problems), returncode=1)
        self.stdout.write(f"OK: {len(document['manifest']['files'])} files match the signed manifest")
