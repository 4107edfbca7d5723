"""Writes of the evaluation domain: register models, plan, create and execute runs, store results."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from evaluations.models import Benchmark, ModelEntry, Run, RunStatus, Sample, Score, Suite
from runner.backends import BACKENDS, load_backend
from runner.engine import PreparedTask, aggregate, evaluate_items, prepare_task
from runner.environment import environment_record
from runner.errors import BenchsiteError, ModelLoadError
from runner.metrics import pooled
from runner.modelfiles import BUNDLED_MODELS, bundled_model_path, gguf_summary, hub_snapshot, sha256_path
from runner.tasks import GROUPS, TaskSpec, expand

BUNDLED_PREFIX = "bundled:"
FEWSHOT_SEED = 1234
ProgressCallback = Callable[[Run, str, int], None]


# -- models --------------------------------------------------------------------------------------
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
    if path.is_file() and summary is None:
        raise ModelLoadError(f"{path} is not a GGUF file")
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


def model_resolve(*, reference: str, user=None) -> ModelEntry:
    """A registered name, a local file/folder (registered on first use), or a hub id (downloaded)."""
    entry = ModelEntry.objects.filter(name=reference).first() or ModelEntry.objects.filter(slug=reference).first()
    if entry:
        return entry
    if reference in BUNDLED_MODELS:
        return model_register_bundled(names=[reference])[0]
    path = Path(reference).expanduser()
    if path.exists():
        resolved = str(path.resolve())
        return model_register(name=resolved, location=resolved, source_kind=ModelEntry.SourceKind.LOCAL, user=user)
    if reference.count("/") == 1 and not reference.startswith((".", "/")):
        hub_snapshot(reference)
        return model_register(name=reference, location=reference, source_kind=ModelEntry.SourceKind.HUB, user=user)
    known = ", ".join(ModelEntry.objects.values_list("name", flat=True)[:10]) or "none registered"
    raise BenchsiteError(f"unknown model {reference!r}: not registered, not a local path, not a hub id ({known})")


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


# -- benchmarks ----------------------------------------------------------------------------------
def benchmark_sync(*, spec: TaskSpec, dataset_hash: str = "") -> Benchmark:
    benchmark, _ = Benchmark.objects.update_or_create(
        slug=spec.slug,
        version=spec.version,
        spec_hash=spec.spec_hash(),
        defaults={
            "title": spec.title or spec.slug,
            "category": spec.category,
            "task_spec": json.loads(json.dumps(asdict(spec), default=str)),
            "primary_metric": spec.primary_metric,
            **({"dataset_hash": dataset_hash} if dataset_hash else {}),
        },
    )
    return benchmark


def benchmark_group_sync(*, slug: str) -> Benchmark:
    group = GROUPS[slug]
    members_hash = hashlib.sha256(
        "\n".join(expand([m])[0][1][0].spec_hash() for m in group.members).encode()
    ).hexdigest()
    benchmark, _ = Benchmark.objects.update_or_create(
        slug=slug,
        version="1.0",
        spec_hash=members_hash,
        defaults={
            "title": group.title,
            "category": group.category,
            "task_spec": {"group": slug, "members": list(group.members), "aggregation": "size-weighted mean"},
            "primary_metric": group.primary_metric,
            "is_group": True,
        },
    )
    return benchmark


def suite_pin(*, slug: str, title: str, plan: "RunPlan") -> Suite:
    """A suite pinned to the exact benchmark versions (and item limits) of a plan."""
    pinned = json.dumps({"tasks": plan.config["tasks"], "limits": plan.limits}, sort_keys=True)
    version = hashlib.sha256(pinned.encode()).hexdigest()[:12]
    suite, created = Suite.objects.get_or_create(
        slug=slug, version=version, defaults={"title": title, "limits": plan.limits}
    )
    if created:
        suite.benchmarks.set(_plan_benchmarks(plan))
    return suite


def _plan_benchmarks(plan: "RunPlan") -> list[Benchmark]:
    members = [benchmark_sync(spec=t.spec, dataset_hash=t.dataset_hash) for t in plan.tasks]
    return members + [benchmark_group_sync(slug=slug) for slug in plan.requested if slug in GROUPS]


# -- runs ----------------------------------------------------------------------------------------
@dataclass
class RunPlan:
    """Everything a run needs, validated: building one loads the data, so bad input fails here."""

    model: ModelEntry
    backend: str
    backend_options: dict
    requested: list[str]
    tasks: list[PreparedTask]
    limits: dict[str, int]
    limit: int | None
    num_fewshot: int | None
    chat_template: bool
    config: dict = field(default_factory=dict)

    @property
    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest()

    @property
    def total(self) -> int:
        return sum(len(task.items) for task in self.tasks)


def run_plan(
    *,
    model: ModelEntry,
    backend: str,
    benchmarks: list[str],
    limit: int | None = None,
    num_fewshot: int | None = None,
    chat_template: bool = False,
    backend_options: dict | None = None,
    limits: dict[str, int] | None = None,
) -> RunPlan:
    """Validate a run request and load its data. `limits` overrides `limit` per requested slug."""
    if backend not in BACKENDS:
        raise BenchsiteError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if limit is not None and limit < 1:
        raise BenchsiteError("--limit must be a positive number of items")
    if num_fewshot is not None and num_fewshot < 0:
        raise BenchsiteError("--num-fewshot must be zero or more")
    if not benchmarks:
        raise BenchsiteError("no benchmark given")
    if backend == "llama_cpp" and model.format != "gguf":
        raise BenchsiteError(f"the llama_cpp backend needs a GGUF file; {model.name} is {model.format or 'unknown'}")
    limits = dict(limits or {})
    tasks = [
        prepare_task(spec, limit=limits.get(requested, limit), num_fewshot=num_fewshot)
        for requested, group in expand(benchmarks)
        for spec in group
    ]
    options = dict(backend_options or {})
    config = {
        "model": {"name": model.name, "sha256": model.file_sha256},
        "backend": backend,
        "backend_options": options,
        "benchmarks": benchmarks,
        "tasks": {
            t.spec.slug: {"version": t.spec.version, "spec_hash": t.spec.spec_hash(), "dataset_hash": t.dataset_hash,
                          "num_fewshot": t.num_fewshot, "items": len(t.items)}
            for t in tasks
        },
        "limit": limit,
        "limits": limits,
        "num_fewshot": num_fewshot,
        "chat_template": chat_template,
        "fewshot_seed": FEWSHOT_SEED,
    }
    return RunPlan(model, backend, options, benchmarks, tasks, limits, limit, num_fewshot, chat_template, config)


def run_create(*, plan: RunPlan, user=None, suite=None) -> Run:
    with transaction.atomic():
        run = Run.objects.create(
            model=plan.model,
            suite=suite,
            requested_benchmarks=plan.requested,
            backend=plan.backend,
            config=plan.config,
            config_hash=plan.config_hash,
            total=plan.total,
            model_sha256=plan.model.file_sha256,
            dataset_hashes={t.spec.slug: t.dataset_hash for t in plan.tasks},
            task_spec_hashes={t.spec.slug: t.spec.spec_hash() for t in plan.tasks},
            created_by=user,
        )
        run.benchmarks.set(_plan_benchmarks(plan))
    return run


def run_execute(*, run: Run, plan: RunPlan, on_progress: ProgressCallback | None = None) -> Run:
    """Evaluate every item not stored yet, storing samples as they come; then aggregate.

    Any failure marks the run failed (with the message) before it propagates, so no half-written run
    is ever left looking finished.
    """
    claimed = Run.objects.filter(pk=run.pk, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), environment=environment_record()
    )
    if not claimed:
        raise BenchsiteError(f"run {run.pk} is {run.status} and cannot be executed")
    try:
        backend = load_backend(plan.backend, str(model_path(plan.model.location)), **plan.backend_options)
        chat = backend.apply_chat_template if plan.chat_template else None
        benchmark_ids = dict(run.benchmarks.values_list("slug", "id"))
        for task in plan.tasks:
            if chat is not None:
                task = prepare_task(task.spec, limit=len(task.items), num_fewshot=plan.num_fewshot, chat_template=chat)
            _execute_task(run, task, backend, benchmark_ids[task.spec.slug], on_progress)
        scores_store(run=run, plan=plan)
        Run.objects.filter(pk=run.pk).update(status=RunStatus.FINISHED, finished_at=timezone.now())
    except BaseException as exc:
        run_mark_failed(run=run, error=_one_line(exc))
        raise
    run.refresh_from_db()
    return run


def _execute_task(run: Run, task: PreparedTask, backend, benchmark_id: int, on_progress) -> None:
    stored = set(Sample.objects.filter(run=run, benchmark_id=benchmark_id).values_list("doc_id", flat=True))
    buffer: list[Sample] = []
    primary = task.spec.primary_metric
    for result in evaluate_items(task, backend, skip=stored):
        correctness = result.metrics.get("acc", result.metrics.get(primary))
        buffer.append(
            Sample(
                run=run,
                benchmark_id=benchmark_id,
                doc_id=result.doc_id,
                prompt=result.prompt,
                target=result.target,
                output=result.output or "",
                loglikelihoods=result.loglikelihoods,
                prediction=result.prediction,
                metrics=result.metrics,
                correct=None if correctness is None else correctness == 1.0,
                latency_ms=result.latency_ms,
                prompt_tokens=result.prompt_tokens,
                output_tokens=result.output_tokens,
            )
        )
        if len(buffer) >= 8 or task.spec.output_type != "multiple_choice":
            _flush(run, buffer, task.spec.slug, on_progress)
    _flush(run, buffer, task.spec.slug, on_progress)


def _flush(run: Run, buffer: list[Sample], slug: str, on_progress) -> None:
    if not buffer:
        return
    count = len(buffer)
    with transaction.atomic():
        Sample.objects.bulk_create(buffer, ignore_conflicts=True)
        Run.objects.filter(pk=run.pk).update(done=F("done") + count)
    buffer.clear()
    if on_progress:
        on_progress(run, slug, count)


def scores_store(*, run: Run, plan: RunPlan) -> None:
    """Aggregate the stored samples (the source of truth) into Score rows."""
    rows: list[Score] = []
    per_task = {}
    for task in plan.tasks:
        metrics = Sample.objects.filter(run=run, benchmark__slug=task.spec.slug).values_list("metrics", flat=True)
        per_task[task.spec.slug] = aggregate(list(metrics))
        rows += _score_rows(run, task.spec.slug, per_task[task.spec.slug], task.spec.primary_metric)
    for slug in plan.requested:
        if slug in GROUPS:
            group = GROUPS[slug]
            names = {name for member in group.members for name in per_task.get(member, {})}
            combined = {name: pooled([per_task[m][name] for m in group.members if name in per_task.get(m, {})])
                        for name in sorted(names)}
            rows += _score_rows(run, slug, combined, group.primary_metric)
    with transaction.atomic():
        Score.objects.filter(run=run).delete()
        Score.objects.bulk_create(rows)


def _score_rows(run: Run, slug: str, aggregates: dict, primary: str) -> list[Score]:
    return [
        Score(run=run, benchmark_slug=slug, metric=name, value=agg.value, stderr=agg.stderr, n=agg.n,
              is_primary=name == primary)
        for name, agg in aggregates.items()
    ]


def run_mark_failed(*, run: Run, error: str) -> None:
    Run.objects.filter(pk=run.pk).exclude(status=RunStatus.FINISHED).update(
        status=RunStatus.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
