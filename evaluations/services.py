"""Writes of the evaluation domain: register models, plan, create and execute runs, store results."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Count, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from evaluations import progress
from evaluations.custom_benchmarks import custom_benchmarks_register
from evaluations.models import (
    ACTIVE_STATUSES,
    Benchmark,
    ModelEntry,
    Run,
    RunStatus,
    Sample,
    Score,
    Shard,
    ShardStatus,
    Suite,
    WorkerRecord,
)
from evaluations.run_performance import run_performance_store, run_sampler, shard_resources_store
from runner.backends import BACKENDS, load_backend
from runner.backends.base import chat_formatter
from runner.engine import PreparedTask, aggregate, evaluate_items, prepare_task
from runner.environment import environment_record
from runner.errors import BenchsiteError, ModelLoadError
from runner.metrics import pooled
from runner.judge import OPENAI_PREFIX, JudgeSpec, load_judge, needs_judge
from runner.registry import JUDGE_MAX_NEW_TOKENS, ScoreContext
from runner.modelfiles import (
    BUNDLED_MODELS, bundled_model_path, gguf_summary, has_chat_template, hub_snapshot, sha256_path,
)
from runner.placement import BYTES_PER_PARAMETER, ModelShape, choose_queue, estimate_memory
from runner.catalog import GROUPS, MULTIPLE_CHOICE, TASKS, TaskSpec, expand

BUNDLED_PREFIX = "bundled:"
FEWSHOT_SEED = 1234
ProgressCallback = Callable[[Run, str, int], None]
# Errors worth retrying: the database or the broker went away for a moment.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)


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
        "\n".join(TASKS[member].spec_hash() for member in group.members).encode()
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
    judge: str = "",
    max_new_tokens: int | None = None,
) -> RunPlan:
    """Validate a run request and load its data. `limits` overrides `limit` per requested slug."""
    custom_benchmarks_register(slugs=benchmarks)  # imported benchmarks live in the database, not in code
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
    if (backend == "openai") != (model.format == "endpoint"):
        raise BenchsiteError(f"{model.name}: the openai backend is for server URLs, and server URLs need it")
    limits = dict(limits or {})
    if max_new_tokens is not None and max_new_tokens < 1:
        raise BenchsiteError("--max-new-tokens must be a positive number of tokens")
    specs = [(requested, _capped(spec, max_new_tokens)) for requested, group in expand(benchmarks) for spec in group]
    refused = [spec.slug for _, spec in specs if spec.requires_execution and not settings.BENCHSITE_CODE_EXECUTION]
    if refused:
        raise BenchsiteError(
            f"{', '.join(refused)} run model-written code; set BENCHSITE_CODE_EXECUTION=1 to allow the sandbox"
        )
    unjudged = [spec.slug for _, spec in specs if needs_judge(spec)] if not judge else []
    if unjudged:
        raise BenchsiteError(f"{', '.join(unjudged)}: graded by an LLM judge; pass --judge MODEL or "
                             "--judge openai:<base_url>#<model>")
    if chat_template and backend != "openai" and not has_chat_template(model_path(model.location)):
        raise BenchsiteError(f"{model.name} has no chat template, and --chat-template asks for one")
    tasks = [prepare_task(spec, limit=limits.get(requested, limit), num_fewshot=num_fewshot) for requested, spec in specs]
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
        **({"judge": judge_record(spec=judge)} if judge else {}),
        **({"max_new_tokens": max_new_tokens} if max_new_tokens else {}),
    }
    return RunPlan(model, backend, options, benchmarks, tasks, limits, limit, num_fewshot, chat_template, config)


def run_create(*, plan: RunPlan, user=None, suite=None, is_private: bool = False,
               submission_key: str | None = None) -> Run:
    """Store a queued run with its shards; placement picks the hardware queue or refuses."""
    queue, estimate = run_placement(plan=plan)
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
            queue=queue,
            estimated_memory_bytes=estimate,
            is_private=is_private,
            submission_key=submission_key,
            created_by=user,
        )
        run.benchmarks.set(_plan_benchmarks(plan))
        size = settings.BENCHSITE_SHARD_SIZE
        Shard.objects.bulk_create(
            Shard(run=run, benchmark_slug=task.spec.slug, start=start, stop=min(start + size, len(task.items)))
            for task in plan.tasks
            for start in range(0, len(task.items), size)
        )
    return run


def run_submit(*, plan: RunPlan, user=None, is_private: bool = False) -> tuple[Run, bool]:
    """Create and enqueue a run, or return the active run of an identical submission.

    Shards are enqueued on commit, so a submission inside a transaction that rolls back never runs.
    """
    key = hashlib.sha256(f"{plan.config_hash}:{user.pk if user else ''}".encode()).hexdigest()
    active = Run.objects.filter(submission_key=key, status__in=ACTIVE_STATUSES).first()
    if active:
        return active, False
    try:
        with transaction.atomic():
            run = run_create(plan=plan, user=user, is_private=is_private, submission_key=key)
    except IntegrityError:  # an identical submission won the race
        return Run.objects.get(submission_key=key, status__in=ACTIVE_STATUSES), False
    shard_ids = list(run.shards.values_list("pk", flat=True))
    transaction.on_commit(lambda: _enqueue(shard_ids, run.queue))
    return run, True


def _enqueue(shard_ids: list[int], queue: str) -> None:
    from evaluations.tasks import execute_shard

    for shard_id in shard_ids:
        execute_shard.apply_async((shard_id,), queue=queue)


def _capped(spec: TaskSpec, max_new_tokens: int | None) -> TaskSpec:
    """A generation budget below the benchmark's own (a quick look, a test); it changes the spec hash."""
    if max_new_tokens is None or spec.output_type == MULTIPLE_CHOICE or spec.max_new_tokens <= max_new_tokens:
        return spec
    return dataclasses.replace(spec, max_new_tokens=max_new_tokens)


def run_placement(*, plan: RunPlan) -> tuple[str, int | None]:
    """(queue, estimated bytes). The fake backend and remote endpoints need no memory model."""
    if plan.backend in ("fake", "openai"):
        return settings.CELERY_TASK_DEFAULT_QUEUE, None
    options = plan.backend_options
    device = options.get("device", "cpu")
    if device == "auto":
        device = "cpu" if not settings.BENCHSITE_GPU_AVAILABLE else "cuda"
    estimate = estimate_memory(
        model_shape(plan.model, plan.backend, options.get("dtype", "auto")),
        context=options.get("n_ctx", 2048),
        batch=options.get("batch_size", 1) if plan.backend == "hf" else 1,
        kv_bytes=4.0 if plan.backend == "hf" and options.get("dtype", "auto") in ("auto", "float32") else 2.0,
    )
    return choose_queue(estimate, device=device, queues=settings.BENCHSITE_QUEUES), estimate.total_bytes


def model_shape(model: ModelEntry, backend: str, dtype: str) -> ModelShape:
    path = model_path(model.location)
    if path.is_file():
        summary = gguf_summary(path)
        fmt = summary.quantization if backend == "llama_cpp" else ("float32" if dtype == "auto" else dtype)
        dims = (summary.layers, summary.hidden_size, summary.attention_heads, summary.kv_heads)
    else:
        config = json.loads((path / "config.json").read_text())
        fmt = dtype if dtype != "auto" else str(config.get("torch_dtype") or config.get("dtype") or "float32")
        heads = config.get("num_attention_heads", 1)
        dims = (config.get("num_hidden_layers"), config.get("hidden_size"), heads,
                config.get("num_key_value_heads", heads))
    if not all(dims) or not model.parameter_count and not path.is_file():
        raise BenchsiteError(f"cannot estimate the memory of {model.name}: its shape is unknown")
    parameters = model.parameter_count or int(path.stat().st_size / BYTES_PER_PARAMETER.get(fmt, 1.0))
    return ModelShape(parameters, fmt, *dims)  # type: ignore[arg-type]


def run_cancel(*, run: Run) -> bool:
    """Cancel a queued or running run; running shards stop at their next checkpoint."""
    with transaction.atomic():
        changed = Run.objects.filter(pk=run.pk, status__in=ACTIVE_STATUSES).update(
            status=RunStatus.CANCELLED, finished_at=timezone.now(), submission_key=None
        )
        Shard.objects.filter(run=run, status=ShardStatus.QUEUED).update(status=ShardStatus.CANCELLED)
    if changed:
        progress.publish(run_id=run.pk, line="run cancelled")
    return bool(changed)


def run_execute(*, run: Run, plan: RunPlan | None = None, on_progress: ProgressCallback | None = None) -> Run:
    """Execute every shard of a run in this process (the CLI's path; workers take shards one by one)."""
    if run.is_final:
        raise BenchsiteError(f"run {run.pk} is {run.status} and cannot be executed")
    for shard_id in run.shards.order_by("pk").values_list("pk", flat=True):
        shard_execute(shard_id=shard_id, worker="local", plan=plan, on_progress=on_progress)
    run.refresh_from_db()
    if run.status == RunStatus.FAILED:
        raise BenchsiteError(run.error)
    return run


# -- shards --------------------------------------------------------------------------------------
_plans: dict[int, RunPlan] = {}
_backends: dict[str, object] = {}


def plan_for_run(run: Run) -> RunPlan:
    """Rebuild a run's plan from its stored configuration, refusing if model or data changed since."""
    if run.pk not in _plans:
        config = run.config
        plan = run_plan(
            model=run.model, backend=run.backend, benchmarks=config["benchmarks"], limit=config["limit"],
            limits=config.get("limits"), num_fewshot=config["num_fewshot"], chat_template=config["chat_template"],
            backend_options=config["backend_options"], judge=(config.get("judge") or {}).get("name", ""),
            max_new_tokens=config.get("max_new_tokens"),
        )
        if plan.config_hash != run.config_hash:
            raise BenchsiteError(f"run {run.pk}: the model or benchmark data changed since it was created")
        _plans.clear()
        _plans[run.pk] = plan
    return _plans[run.pk]


def backend_for(plan: RunPlan):
    """One loaded model per process, reused by the shards of every run that asks for the same one."""
    key = json.dumps([plan.backend, plan.model.location, plan.backend_options], sort_keys=True)
    if key not in _backends:
        _backends.clear()  # free the previous model before loading the next
        location = plan.model.location if plan.backend == "openai" else str(model_path(plan.model.location))
        _backends[key] = load_backend(plan.backend, location, **plan.backend_options)
    return _backends[key]


def shard_claim(*, shard_id: int, worker: str) -> Shard | None:
    """Take a shard for this worker, or None if there is nothing to do (finished, cancelled, poisoned)."""
    with transaction.atomic():
        shard = Shard.objects.select_for_update().select_related("run").filter(pk=shard_id).first()
        if shard is None or shard.status not in (ShardStatus.QUEUED, ShardStatus.RUNNING):
            return None
        run = shard.run
        if run.is_final:
            Shard.objects.filter(pk=shard.pk).update(status=ShardStatus.CANCELLED)
            return None
        shard.deliveries += 1
        if shard.deliveries > settings.BENCHSITE_MAX_DELIVERIES:
            message = f"shard {shard.benchmark_slug}[{shard.start}:{shard.stop}] failed {shard.deliveries - 1} times"
            Shard.objects.filter(pk=shard.pk).update(deliveries=shard.deliveries)
            shard_mark(shard=shard, status=ShardStatus.FAILED, error=message)
            run_mark_failed(run=run, error=message)
            return None
        shard.status, shard.worker = ShardStatus.RUNNING, worker
        shard.save(update_fields=["deliveries", "status", "worker", "updated_at"])
        Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING, started_at=timezone.now(), environment=environment_record()
        )
    return shard


def shard_execute(*, shard_id: int, worker: str, plan: RunPlan | None = None,
                  on_progress: ProgressCallback | None = None) -> None:
    shard = shard_claim(shard_id=shard_id, worker=worker)
    if shard is None:
        return
    run = shard.run
    try:
        plan = plan or plan_for_run(run)
        backend = backend_for(plan)
        task = next(t for t in plan.tasks if t.spec.slug == shard.benchmark_slug)
        if plan.chat_template or task.spec.chat:
            task = prepare_task(task.spec, limit=len(task.items), num_fewshot=plan.num_fewshot,
                                chat_template=chat_formatter(backend, required=plan.chat_template))
        part = dataclasses.replace(task, items=task.items[shard.start:shard.stop])
        benchmark_id = run.benchmarks.get(slug=task.spec.slug).pk
        with run_sampler() as sampler:
            finished = _execute_items(run, part, backend, benchmark_id, on_progress)
        shard_resources_store(shard=shard, report=sampler.report())
    except TRANSIENT_ERRORS:
        raise  # the task retries with backoff; the shard stays claimable
    except SoftTimeLimitExceeded:
        shard_mark(shard=shard, status=ShardStatus.TIMED_OUT, error="soft time limit exceeded")
        Run.objects.filter(pk=run.pk, status__in=ACTIVE_STATUSES).update(
            status=RunStatus.TIMED_OUT, finished_at=timezone.now(), submission_key=None
        )
        raise
    except BaseException as exc:
        shard_mark(shard=shard, status=ShardStatus.FAILED, error=_one_line(exc))
        run_mark_failed(run=run, error=_one_line(exc))
        if isinstance(exc, BenchsiteError):
            return
        raise
    if not finished:
        shard_mark(shard=shard, status=ShardStatus.CANCELLED)
        return
    shard_mark(shard=shard, status=ShardStatus.FINISHED)
    if run_finish_if_complete(run=run, plan=plan):
        run_performance_store(run=run, backend=backend)


def shard_mark(*, shard: Shard, status: str, error: str = "") -> None:
    Shard.objects.filter(pk=shard.pk).update(status=status, error=error[:2000], updated_at=timezone.now())


def judge_record(*, spec: str) -> dict:
    """The judge as a run's config records it (and judged samples repeat): name, backend, sha256 or endpoint."""
    parsed = JudgeSpec.parse(spec)
    if parsed.is_endpoint:
        return {"name": spec.strip(), "backend": "openai", "endpoint": parsed.endpoint, "model": parsed.model}
    entry = model_resolve(reference=parsed.model)
    if entry.format == "endpoint":  # a registered server URL: recorded as the endpoint spec it resolves to
        return judge_record(spec=OPENAI_PREFIX + entry.location)
    if not has_chat_template(model_path(entry.location)):
        raise BenchsiteError(f"judge {entry.name} has no chat template: a judge must be a chat (instruction-tuned) model")
    return {"name": entry.name, "backend": "llama_cpp" if entry.format == "gguf" else "hf",
            "sha256": entry.file_sha256}


_judges: dict[str, object] = {}


def score_context(config: dict | None = None) -> ScoreContext:
    """What scorers need beyond the outputs: the sandbox switch and limits, the run's judge if it has one."""
    judge = (config or {}).get("judge")
    return ScoreContext(
        judge=_judge_backend(judge) if judge else None,
        judge_name=judge["name"] if judge else "",
        judge_max_new_tokens=(config or {}).get("max_new_tokens") or JUDGE_MAX_NEW_TOKENS,
        allow_execution=settings.BENCHSITE_CODE_EXECUTION,
        execution_timeout_s=settings.BENCHSITE_SANDBOX_TIMEOUT_S,
        execution_memory_mb=settings.BENCHSITE_SANDBOX_MEMORY_MB,
    )


def _judge_backend(judge: dict):
    """One loaded judge per process, reused by every shard judged by the same one."""
    key = json.dumps(judge, sort_keys=True)
    if key not in _judges:
        _judges.clear()
        if judge["backend"] == "openai":
            _judges[key] = load_judge("openai", judge["endpoint"], model=judge["model"])
        else:
            location = ModelEntry.objects.get(name=judge["name"]).location
            _judges[key] = load_judge(judge["backend"], str(model_path(location)))
    return _judges[key]


def _execute_items(run: Run, task: PreparedTask, backend, benchmark_id: int, on_progress) -> bool:
    """Evaluate the items not stored yet, flushing as they come. False if the run stopped meanwhile."""
    stored = set(Sample.objects.filter(run=run, benchmark_id=benchmark_id).values_list("doc_id", flat=True))
    buffer: list[Sample] = []
    primary = task.spec.primary_metric
    for result in evaluate_items(task, backend, skip=stored, context=score_context(run.config)):
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
                details=result.details,
            )
        )
        if len(buffer) >= 8 or task.spec.output_type != MULTIPLE_CHOICE:
            if not _flush(run, buffer, task.spec.slug, on_progress):
                return False
    return _flush(run, buffer, task.spec.slug, on_progress)


def _flush(run: Run, buffer: list[Sample], slug: str, on_progress) -> bool:
    """Store buffered samples (a redelivered shard's duplicates are ignored); False if the run stopped."""
    count = len(buffer)
    with transaction.atomic():
        Sample.objects.bulk_create(buffer, ignore_conflicts=True)
        if count:  # the shard's liveness: the stale-shard sweeper leaves it alone
            Shard.objects.filter(run=run, status=ShardStatus.RUNNING, benchmark_slug=slug).update(
                updated_at=timezone.now()
            )
    buffer.clear()
    # After the commit, so shards of one run flushing at once on two workers cannot hide each other's rows.
    Run.objects.filter(pk=run.pk).update(done=_stored_samples(run))
    if count:
        if on_progress:
            on_progress(run, slug, count)
        progress.publish(run_id=run.pk, line=f"{slug}: stored {count} samples")
    return Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).exists()


def _stored_samples(run: Run) -> Coalesce:
    """The run's stored sample count, evaluated by the database when the UPDATE runs."""
    count = Sample.objects.filter(run_id=run.pk).order_by().values("run_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(count[:1]), 0)


def run_finish_if_complete(*, run: Run, plan: RunPlan) -> bool:
    """Once every shard is finished, aggregate the stored samples and finish the run (exactly once).

    True for the call that finished it.
    """
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status != RunStatus.RUNNING or locked.shards.exclude(status=ShardStatus.FINISHED).exists():
            return False
        scores_store(run=locked, plan=plan)
        Run.objects.filter(pk=run.pk).update(
            status=RunStatus.FINISHED, finished_at=timezone.now(), submission_key=None, done=_stored_samples(run)
        )
    progress.publish(run_id=run.pk, line="run finished")
    return True


def scores_store(*, run: Run, plan: RunPlan) -> None:
    """Aggregate the stored samples (the source of truth) into Score rows."""
    rows: list[Score] = []
    per_task = {}
    for task in plan.tasks:
        metrics = Sample.objects.filter(run=run, benchmark__slug=task.spec.slug).values_list("metrics", flat=True)
        per_task[task.spec.slug] = aggregate(list(metrics), task.spec.weighted_metrics)
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
    changed = Run.objects.filter(pk=run.pk, status__in=ACTIVE_STATUSES).update(
        status=RunStatus.FAILED, error=error[:2000], finished_at=timezone.now(), submission_key=None
    )
    Shard.objects.filter(run=run, status=ShardStatus.QUEUED).update(status=ShardStatus.CANCELLED)
    if changed:
        progress.publish(run_id=run.pk, line=f"run failed: {error}")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


# -- workers -------------------------------------------------------------------------------------
def worker_register(*, hostname: str, queues: list[str]) -> WorkerRecord:
    from runner.environment import hardware, library_versions

    machine = hardware()
    device = ", ".join(gpu["name"] for gpu in machine["gpus"]) or f"cpu: {machine['processor']}"
    now = timezone.now()
    record, _ = WorkerRecord.objects.update_or_create(
        hostname=hostname,
        defaults={"queues": queues, "device": device, "memory_bytes": machine["memory_bytes"],
                  "libraries": library_versions(), "started_at": now, "heartbeat_at": now, "stopped_at": None},
    )
    return record


def worker_heartbeat(*, hostname: str) -> None:
    WorkerRecord.objects.filter(hostname=hostname).update(heartbeat_at=timezone.now(), stopped_at=None)


def worker_stopped(*, hostname: str) -> None:
    WorkerRecord.objects.filter(hostname=hostname).update(stopped_at=timezone.now())


def workers_mark_stale() -> int:
    silence = timedelta(seconds=3 * settings.BENCHSITE_HEARTBEAT_SECONDS)
    return WorkerRecord.objects.filter(stopped_at=None, heartbeat_at__lt=timezone.now() - silence).update(
        stopped_at=timezone.now()
    )


def shards_requeue_stale() -> int:
    """Beat: enqueue again shards of active runs that nobody has touched for a while.

    The rows are the truth and the broker is not: a message lost with a Redis restart, or held by a
    worker that died, is replaced. Claims are idempotent and stored samples are skipped, so a shard
    that turns out to be alive only costs a duplicate delivery.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.BENCHSITE_SHARD_STALE_SECONDS)
    stale = list(
        Shard.objects.filter(
            status__in=[ShardStatus.QUEUED, ShardStatus.RUNNING], updated_at__lt=cutoff,
            run__status__in=ACTIVE_STATUSES,
            run__submission_key__isnull=False,  # submitted to workers, not run in-process by `evaluate`
        ).values_list("pk", "run__queue")
    )
    for shard_id, queue in stale:
        Shard.objects.filter(pk=shard_id).update(updated_at=timezone.now())
        _enqueue([shard_id], queue)
    return len(stale)
