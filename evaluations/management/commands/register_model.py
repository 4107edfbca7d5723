"""`manage.py register_model`: add a local GGUF file, a Hugging Face folder or a hub id to the catalogue,
optionally as a fine-tune, merge, adapter or quantization of a registered base model."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from evaluations.services import model_entries
from evaluations.models import ModelEntry
from runner.errors import BenchsiteError
from runner.modelfiles import hub_snapshot


class Command(BaseCommand):
    help = "Register a model (local path or hub id) under a name, hashing its files."

    def add_arguments(self, parser) -> None:
        parser.add_argument("location", nargs="?", default="",
                            help="GGUF file, HF model folder, or hub id like org/name (omit with --adapter: "
                                 "the base's files are loaded, then the adapter)")
        parser.add_argument("--name", help="display name (default: the file or folder name, or the hub id)")
        parser.add_argument("--family", default="")
        parser.add_argument("--license", default="")
        parser.add_argument("--revision", default="", help="hub revision (branch, tag or commit)")
        parser.add_argument("--parameters", type=int, default=None, help="parameter count")
        parser.add_argument("--base", default="", help="registered name or slug of the model this derives from")
        parser.add_argument("--relation", default="", choices=["", *ModelEntry.Relation.values],
                            help="how it derives from --base (default: adapter with --adapter, else fine_tune)")
        parser.add_argument("--adapter", default="", help="PEFT adapter folder or GGUF LoRA file (needs --base)")
        parser.add_argument("--target", default="", help="a fine-tune's target benchmarks, comma-separated")

    def handle(self, *args, **options) -> None:
        location: str = options["location"]
        path = Path(location).expanduser()
        if (options["adapter"] or options["target"]) and not options["base"]:
            raise CommandError("--adapter and --target need --base (the model it derives from)", returncode=2)
        if not location and not options["adapter"]:
            raise CommandError("give the model's location (or --base and --adapter)", returncode=2)
        try:
            entry = self._register(options, location, path)
        except BenchsiteError as exc:
            raise CommandError(str(exc), returncode=2) from None
        if not location:
            self.stdout.write(f"registered {entry.name}: {entry.get_base_relation_display().lower()} of "
                              f"{entry.base_model.name} (adapter sha256 {entry.adapter_sha256})")
            return
        lineage = f", {entry.get_base_relation_display().lower()} of {entry.base_model.name}" if entry.base_model else ""
        self.stdout.write(f"registered {entry.name} ({entry.format} {entry.quantization}, sha256 {entry.file_sha256}"
                          f"{lineage})")

    @transaction.atomic
    def _register(self, options: dict, location: str, path: Path) -> ModelEntry:
        """In one transaction: a refused lineage leaves no half-registered model."""
        if not location:
            return model_entries.model_register_adapter(
                name=options["name"] or Path(options["adapter"]).name, base=options["base"],
                adapter=options["adapter"], relation=options["relation"] or ModelEntry.Relation.ADAPTER,
                target_benchmarks=_slugs(options["target"]),
            )
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
        if options["base"]:
            model_entries.model_set_lineage(model=entry, base=options["base"], relation=options["relation"],
                                            adapter=options["adapter"], target_benchmarks=_slugs(options["target"]))
        return entry


def _slugs(text: str) -> list[str]:
    return [slug.strip() for slug in text.split(",") if slug.strip()]
