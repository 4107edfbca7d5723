"""Model entries: register a model (files hashed once), resolve what a user typed to one."""
from __future__ import annotations

import json
from pathlib import Path

from django.db.models import Q

from evaluations.models import ModelEntry
from runner.errors import BenchsiteError, ModelLoadError
from runner.modelfiles import BUNDLED_MODELS, bundled_model_path, gguf_summary, hub_snapshot, sha256_path

BUNDLED_PREFIX = "bundled:"


def model_register(
    *,
    name: str,
    location: str,
    source_kind: str,
    family: str = "",
    license: str = "",
    revision: str = "",
    parameter_count: int | None = None,
    user=None,
) -> ModelEntry:
    """Create or refresh a model entry; the file is inspected and hashed once here."""
    path = model_path(location)
    summary = gguf_summary(path) if path.is_file() else None
    if path.is_dir() and not (path / "config.json").exists():
        raise ModelLoadError(f"{path} is not a Hugging Face model folder (no config.json)")
    entry, _ = ModelEntry.objects.update_or_create(
        name=name,
        defaults={
            "location": location,
            "source_kind": source_kind,
            "family": family,
            "license": license,
            "revision": revision,
            "parameter_count": parameter_count,
            "file_sha256": sha256_path(path),
            "format": "gguf" if summary else "safetensors",
            "quantization": summary.quantization if summary else "",
            "dtype": summary.quantization if summary else _folder_dtype(path),
            "submitted_by": user,
        },
    )
    return entry


def model_register_bundled(*, names: list[str] | None = None) -> list[ModelEntry]:
    return [
        model_register(
            name=model.name,
            location=BUNDLED_PREFIX + model.name,
            source_kind=ModelEntry.SourceKind.BUNDLED,
            family=model.family,
            license=model.license,
            parameter_count=model.parameter_count,
        )
        for model in BUNDLED_MODELS.values()
        if names is None or model.name in names
    ]


def model_find(reference: str) -> ModelEntry | None:
    """A registered model by name or slug, case-insensitively (the site shows slugs, people type names)."""
    return ModelEntry.objects.filter(Q(name__iexact=reference) | Q(slug__iexact=reference)).order_by("pk").first()


def bundled_model_name(reference: str) -> str | None:
    """The bundled model a name or slug refers to, case-insensitively."""
    from django.utils.text import slugify

    wanted = reference.lower()
    return next((name for name in BUNDLED_MODELS if wanted in (name.lower(), slugify(name))), None)


def model_resolve(*, reference: str, user=None) -> ModelEntry:
    """A registered name or slug, a bundled model, a local file/folder (registered on first use), a hub id."""
    entry = model_find(reference)
    if entry:
        return entry
    bundled = bundled_model_name(reference)
    if bundled:
        return model_register_bundled(names=[bundled])[0]
    if reference.startswith(("http://", "https://")):
        return model_register_endpoint(url=reference, user=user)
    path = Path(reference).expanduser()
    if path.exists():
        resolved = str(path.resolve())
        return model_register(name=resolved, location=resolved, source_kind=ModelEntry.SourceKind.LOCAL, user=user)
    if reference.count("/") == 1 and not reference.startswith((".", "/")):
        hub_snapshot(reference)
        return model_register(name=reference, location=reference, source_kind=ModelEntry.SourceKind.HUB, user=user)
    known = ", ".join(ModelEntry.objects.values_list("name", flat=True)[:10]) or "none registered"
    raise BenchsiteError(f"unknown model {reference!r}: not registered, not a local path, not a hub id ({known})")


def model_register_endpoint(*, url: str, user=None) -> ModelEntry:
    """A model behind an OpenAI-compatible server; `url#name` picks one where the server serves several."""
    from runner.backends.openai import resolve_served_model

    entry, _ = ModelEntry.objects.update_or_create(
        name=url,
        defaults={"location": resolve_served_model(url), "source_kind": "endpoint", "format": "endpoint",
                  "submitted_by": user},
    )
    return entry


def model_path(location: str) -> Path:
    """Where a model's weights are on this machine (bundled models are found in site-packages)."""
    if location.startswith(BUNDLED_PREFIX):
        return bundled_model_path(location.removeprefix(BUNDLED_PREFIX))
    path = Path(location)
    if path.exists():
        return path
    if location.count("/") == 1:
        return hub_snapshot(location, local_files_only=False)
    raise ModelLoadError(f"model files not found: {location}")


def _folder_dtype(path: Path) -> str:
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return ""
    return str(config.get("dtype") or config.get("torch_dtype") or "")



# -- lineage: base → fine-tune / merge / adapter / quantization ---------------------------------------
LINEAGE_MAX_DEPTH = 32  # a longer chain is a data error, not a family


class LineageError(BenchsiteError):
    """A lineage that cannot be recorded: unknown base, a cycle, an unknown relation, a missing adapter."""


def model_set_lineage(*, model: ModelEntry, base: ModelEntry | str | None, relation: str = "",
                      adapter: str = "", target_benchmarks: list[str] | None = None) -> ModelEntry:
    """Record what `model` derives from and how; `base=None` makes it a base model again.

    `base` is an entry or a registered name/slug. `adapter` is a PEFT folder (adapter_config.json) or a GGUF
    LoRA file, hashed here like model files. `target_benchmarks` names the fine-tune's target domain (the
    vs-base page sets its gains against losses elsewhere). Called by the CLI and by web/API submission alike.
    """
    from runner.catalog import TASKS, GROUPS

    targets = list(target_benchmarks or [])
    unknown = [slug for slug in targets if slug not in TASKS and slug not in GROUPS]
    if unknown:
        raise LineageError(f"unknown target benchmark {', '.join(unknown)}")
    if base is None:
        if relation or adapter:
            raise LineageError(f"{model.name}: a relation or an adapter needs a base model")
        model.base_model, model.base_relation, model.adapter, model.adapter_sha256 = None, "", "", ""
        model.target_benchmarks = []
        model.save(update_fields=["base_model", "base_relation", "adapter", "adapter_sha256", "target_benchmarks"])
        return model
    if isinstance(base, str):
        found = model_find(base)
        if found is None:
            raise LineageError(f"unknown base model {base!r}: register it first (manage.py register_model)")
        base = found
    relation = relation or (ModelEntry.Relation.ADAPTER if adapter else ModelEntry.Relation.FINE_TUNE)
    if relation not in ModelEntry.Relation.values:
        raise LineageError(f"unknown relation {relation!r}; choose one of {', '.join(ModelEntry.Relation.values)}")
    if base.pk == model.pk:
        raise LineageError(f"{model.name} cannot be its own base model")
    chain = [model.name, base.name]
    ancestor = base
    for _ in range(LINEAGE_MAX_DEPTH):
        ancestor = ancestor.base_model
        if ancestor is None:
            break
        chain.append(ancestor.name)
        if ancestor.pk == model.pk:
            raise LineageError(f"{base.name} cannot be the base of {model.name}: that makes a cycle "
                               f"({' → '.join(reversed(chain))})")
    else:
        raise LineageError(f"the lineage above {base.name} is deeper than {LINEAGE_MAX_DEPTH} models")
    adapter_sha256 = ""
    if adapter:
        adapter_path = Path(adapter).expanduser()
        if not (adapter_path / "adapter_config.json").is_file() and not (
                adapter_path.is_file() and adapter_path.suffix == ".gguf"):
            raise LineageError(f"adapter {adapter!r} is neither a PEFT folder (adapter_config.json) "
                               "nor a GGUF LoRA file")
        adapter, adapter_sha256 = str(adapter_path.resolve()), sha256_path(adapter_path)
    model.base_model, model.base_relation = base, relation
    model.adapter, model.adapter_sha256, model.target_benchmarks = adapter, adapter_sha256, targets
    model.save(update_fields=["base_model", "base_relation", "adapter", "adapter_sha256", "target_benchmarks"])
    return model


def model_register_adapter(*, name: str, base: ModelEntry | str, adapter: str,
                           relation: str = ModelEntry.Relation.FINE_TUNE, target_benchmarks: list[str] | None = None,
                           user=None) -> ModelEntry:
    """A model that is its base's weights plus an adapter: it loads the base's files, then the adapter."""
    base_entry = base if isinstance(base, ModelEntry) else model_find(base)
    if base_entry is None:
        raise LineageError(f"unknown base model {base!r}: register it first (manage.py register_model)")
    entry, _ = ModelEntry.objects.update_or_create(
        name=name,
        defaults={field: getattr(base_entry, field) for field in (
            "location", "source_kind", "family", "license", "revision", "parameter_count", "file_sha256",
            "format", "quantization", "dtype")} | {"submitted_by": user},
    )
    return model_set_lineage(model=entry, base=base_entry, relation=relation, adapter=adapter,
                             target_benchmarks=target_benchmarks)
