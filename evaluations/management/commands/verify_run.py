"""`manage.py verify_run FILE [--public-key PEM] [--against-database]`: check a run's signed manifest."""
from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evaluations import manifests


class Command(BaseCommand):
    help = ("Verify a signed run manifest (from /runs/<id>/manifest.json or export_results) against the site's "
            "key, or a public key downloaded from /keys/ (--public-key). Exit code 1 when it does not verify.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--public-key", type=Path, help="PEM public key to trust (default: this site's key)")
        parser.add_argument("--against-database", action="store_true",
                            help="also check that this database's rows of the run still give the same manifest")

    def handle(self, *args, **options) -> None:
        try:
            document = json.loads(options["file"].read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {options['file']}: {exc}", returncode=2) from exc
        key = None
        if not options["public_key"] and not manifests.signing_key_path().exists():
            raise CommandError("this site has no signing key to check against; pass --public-key PEM "
                               "(the site's /keys/ed25519.pem)", returncode=2)
        if options["public_key"]:
            try:
                key = manifests.load_public_key(options["public_key"].read_bytes())
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read the public key {options['public_key']}: {exc}", returncode=2) from exc
        checks = [manifests.manifest_verify(document if isinstance(document, dict) else {}, key)]
        if checks[0].valid and options["against_database"]:
            checks.append(manifests.manifest_matches_database(document))
        for check in checks:
            if not check.valid:
                raise CommandError(f"NOT VERIFIED: {check.reason}", returncode=1)
        manifest = document["manifest"]
        self.stdout.write(f"OK: run {manifest['run_id']} of {manifest['model']['name']}, "
                          f"{len(manifest['scores'])} scores, {manifest['samples']['count']} samples "
                          f"(sha256 {manifest['samples']['sha256'][:16]}…); " + "; ".join(c.reason for c in checks))
