"""`manage.py register_model`: add a local GGUF file, a Hugging Face folder or a hub id to the catalogue."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evaluations.services import model_entries
from evaluations.models import ModelEntry
from runner.errors import BenchsiteError
from runner.modelfiles import hub_snapshot


class Command(BaseCommand):
    help = "Register a model (local path or hub id) under a name, hashing its files."

    def add_arguments(self, parser) -> None:
        parser.add_argument("location", help="GGUF file, HF model folder, or hub id like org/name")
        parser.add_argument("--name", help="display name (default: the file or folder name, or the hub id)")
        parser.add_argument("--family", default="")
        parser.add_argument("--license", default="")
        parser.add_argument("--revision", default="", help="hub revision (branch, tag or commit)")
        parser.add_argument("--parameters", type=int, default=None, help="parameter count")

    def handle(self, *args, **options) -> None:
        location: str = options["location"]
        path = Path(location).expanduser()
        try:
            if path.exists():
                location, kind = str(path.resolve()), ModelEntry.SourceKind.LOCAL
            else:
                hub_snapshot(location, revision=options["revision"] or None)
                kind = ModelEntry.SourceKind.HUB
            entry = model_entries.model_register(
                name=options["name"] or (path.name if path.exists() else location),
                location=location,
                source_kind=kind,
                family=options["family"],
                license=options["license"],
                revision=options["revision"],
                parameter_count=options["parameters"],
            )
        except BenchsiteError as exc:
            raise CommandError(str(exc), returncode=2) from None
        self.stdout.write(f"registered {entry.name} ({entry.format} {entry.quantization}, sha256 {entry.file_sha256})")
