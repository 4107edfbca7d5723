"""Shards: claim a chunk of a run's items, evaluate what is not stored yet, store samples as they come."""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import socket
from typing import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, connections, transaction
from django.utils import timezone

from evaluations import progress
from evaluations.custom_benchmarks import custom_benchmarks_register
from evaluations.models import Run, RunStatus, Sample, Shard, ShardStatus
from evaluations.run_performance import run_performance_store, run_sampler, shard_resources_store
from evaluations.services.adaptive import AdaptiveRule, adaptive_order, adaptive_record_stop, adaptive_stop
from evaluations.services.model_entries import model_path
from evaluations.services.plans import RunPlan, capped_spec
from evaluations.services.responses import DatabaseResponseStore, response_identity
from evaluations.services.runs import (
    run_finish_if_complete, run_mark_budget_reached, run_mark_failed, run_mark_timed_out, stored_samples,
)
from evaluations.services.scoring import score_context
from evaluations.services.spend import run_budgeted
from evaluations.signals import run_status_announce
from runner.backends import Backend
from runner.backends.base import chat_formatter
from runner.backends.cache import cached_backend
from runner.backends.responses import CachingBackend
from runner.catalog import MULTIPLE_CHOICE, TASKS
from runner.engine import PreparedTask, SampleResult, evaluate_items, prepare_task
from runner.environment import environment_record
from runner.errors import BenchsiteError
from runner.pricing import BudgetReached

ProgressCallback = Callable[[Run, str, int], None]
# Errors worth retrying: the database or the broker went away for a moment.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)
# Adaptive runs score multiple choice in smaller calls, so the stopping rule is checked every few items.
ADAPTIVE_BATCH_ITEMS = 16


def run_execute(*, run: Run, plan: RunPlan | None = None, on_progress: ProgressCallback | None = None) -> Run:
    """Execute every shard of a run in this process (the CLI's path; workers take shards one by one)."""
    if run.is_final:
        raise BenchsiteError(f"run {run.pk} is {run.status} and cannot be executed")
    for shard_id in run.shards.order_by("pk").values_list("pk", flat=True):
        shard_execute(shard_id=shard_id, worker=local_worker_name(), plan=plan, on_progress=on_progress)
    run.refresh_from_db()
    if run.status == RunStatus.FAILED:
        raise BenchsiteError(run.error)
    return run


def run_execute_isolated(*, run: Run, plan: RunPlan | None = None,
                         on_progress: ProgressCallback | None = None) -> Run:
    """run_execute in a forked child, so a runtime that crashes (SIGSEGV in native code) fails the run
    with the backend and signal named instead of taking the command down with the run left "running".

    Inside an open transaction the child could not see the run's rows, so it runs in process there.
    """
    if connection.in_atomic_block or not hasattr(os, "fork"):
        return run_execute(run=run, plan=plan, on_progress=on_progress)
    if run.is_final:
        raise BenchsiteError(f"run {run.pk} is {run.status} and cannot be executed")
    connections.close_all()  # the child opens its own; a shared socket would interleave both sides' queries
    child = multiprocessing.get_context("fork").Process(target=_execute_in_child, args=(run, plan, on_progress))
    child.start()
    child.join()
    if child.exitcode is not None and child.exitcode < 0:
        number = -child.exitcode
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else "unknown"
        for shard_id in run.shards.filter(status=ShardStatus.RUNNING).values_list("pk", flat=True):
            shard_crashed(shard_id=shard_id, signal_name=f"signal {number}, {name}")
        run_mark_failed(run=run, error=f"the {run.backend} backend's process died from signal {number}, {name}")
    run.refresh_from_db()
    if run.status == RunStatus.FAILED:
        raise BenchsiteError(run.error)
    if not run.is_final:
        raise BenchsiteError(f"run {run.pk} stopped unfinished ({run.status}); the child exited with {child.exitcode}")
    return run


def _execute_in_child(run: Run, plan: RunPlan | None, on_progress: ProgressCallback | None) -> None:
    try:
        run_execute(run=run, plan=plan, on_progress=on_progress)
    except BenchsiteError:
        pass  # stored on the run; the parent reads it from there
    finally:
        connections.close_all()


LOCAL_PREFIX = "local:"


def local_worker_name() -> str:
    """How an in-process run names its executor: `local:<pid>@<host>`, so a later sweep can tell it died."""
    return f"{LOCAL_PREFIX}{os.getpid()}@{socket.gethostname()}"


def local_runs_fail_orphaned() -> int:
    """Fail in-process runs whose process on this host is gone (killed, crashed, the machine rebooted).

    Workers' shards are resumed by the worker sweeps; a run executed by `evaluate` or the demo has no one
    to resume it, so without this it would stay "running" for ever. Called when those commands start.
    """
    host = socket.gethostname()
    orphaned = 0
    for shard in Shard.objects.filter(status=ShardStatus.RUNNING, worker__startswith=LOCAL_PREFIX,
                                      run__submission_key__isnull=True).select_related("run"):
        pid_text, _, shard_host = shard.worker.removeprefix(LOCAL_PREFIX).partition("@")
        if shard_host != host or not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        message = (f"the process evaluating {shard.benchmark_slug}[{shard.start}:{shard.stop}] (pid {pid_text}) "
                   "ended without finishing it: killed or crashed")
        shard_mark(shard=shard, status=ShardStatus.FAILED, error=message)
        run_mark_failed(run=shard.run, error=message)
        orphaned += 1
    return orphaned


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
            if shard.error:
                message += f"; last: {shard.error}"
            Shard.objects.filter(pk=shard.pk).update(deliveries=shard.deliveries)
            shard_mark(shard=shard, status=ShardStatus.FAILED, error=message)
            run_mark_failed(run=run, error=message)
            return None
        shard.status, shard.worker = ShardStatus.RUNNING, worker
        shard.save(update_fields=["deliveries", "status", "worker", "updated_at"])
        if Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING, started_at=timezone.now(), environment=environment_record()
        ):
            run_status_announce(run_id=run.pk, status=RunStatus.RUNNING)
    return shard


def shard_execute(*, shard_id: int, worker: str, plan: RunPlan | None = None,
                  on_progress: ProgressCallback | None = None,
                  interrupts: tuple[type[BaseException], ...] = ()) -> None:
    """Evaluate one shard. Exceptions in `interrupts` (the task runner's time limit) pass through unrecorded."""
    shard = shard_claim(shard_id=shard_id, worker=worker)
    if shard is None:
        return
    run = shard.run
    try:
        backend = run_backend(run)
        task = _shard_task(run, shard, backend, plan)
        benchmark_id = run.benchmarks.get(slug=task.spec.slug).pk
        with run_sampler() as sampler:
            finished = _execute_items(run, task, backend, benchmark_id, on_progress)
        shard_resources_store(shard=shard, report=sampler.report())
    except TRANSIENT_ERRORS:
        raise  # the task retries with backoff; the shard stays claimable
    except interrupts:
        raise
    except BudgetReached:
        shard_mark(shard=shard, status=ShardStatus.BUDGET_REACHED, error=run_mark_budget_reached(run=run))
        return
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
    if run_finish_if_complete(run=run):
        # A run answered wholly from the response cache never loaded its model: no streamed probe then. Nor
        # for a priced run: the probe's requests would be billed outside the run's budget.
        unloaded = isinstance(backend, CachingBackend) and not backend.loaded
        priced = bool(run.config.get("pricing"))
        run_performance_store(run=run, backend=None if unloaded or priced else backend)


def shard_time_out(*, shard_id: int) -> None:
    shard = Shard.objects.select_related("run").get(pk=shard_id)
    shard_mark(shard=shard, status=ShardStatus.TIMED_OUT, error="soft time limit exceeded")
    run_mark_timed_out(run=shard.run)


def shard_crashed(*, shard_id: int, signal_name: str) -> None:
    """The process executing the shard died from a signal of its own (SIGSEGV in a native library, say).

    A crash in the model runtime repeats on every delivery, so the run fails now, naming the backend.
    """
    shard = Shard.objects.select_related("run").filter(pk=shard_id).first()
    if shard is None or shard.status not in (ShardStatus.QUEUED, ShardStatus.RUNNING):
        return
    run = shard.run
    message = (f"the {run.backend} backend crashed the worker process ({signal_name}) while evaluating "
               f"{shard.benchmark_slug}[{shard.start}:{shard.stop}] on {shard.worker or 'a worker'}")
    shard_mark(shard=shard, status=ShardStatus.FAILED, error=message)
    run_mark_failed(run=run, error=message)


def shard_mark(*, shard: Shard, status: str, error: str = "") -> None:
    Shard.objects.filter(pk=shard.pk).update(status=status, error=error[:2000], updated_at=timezone.now())


def run_backend(run: Run) -> Backend:
    """The run's model, loaded once per worker process and reused by later shards (runner.backends.cache).

    Behind the response cache where the run allows it: the model is then loaded only if some request of
    the shard has no stored answer, so re-running a finished configuration costs lookups.
    """
    location = run.model.location if run.backend == "openai" else str(model_path(run.model.location))

    options = dict(run.config["backend_options"])
    if run.model.adapter:
        options["adapter"] = run.model.adapter  # loaded on top of the base's weights, hashed in config["model"]

    def load() -> Backend:
        # Priced inside the response cache: only requests the cache cannot answer are checked and billed.
        return run_budgeted(run=run, backend=cached_backend(run.backend, location, options))

    identity = response_identity(run)
    if identity is None:
        return load()
    return CachingBackend(name=run.backend, identity=identity, store=DatabaseResponseStore(), load=load)


def _shard_task(run: Run, shard: Shard, backend: Backend, plan: RunPlan | None) -> PreparedTask:
    """Only this shard's benchmark, prepared as the run recorded it, cut to the shard's items."""
    config = run.config
    slug = shard.benchmark_slug
    recorded = config["tasks"][slug]
    task = next((t for t in plan.tasks if t.spec.slug == slug), None) if plan else None
    if task is None:
        custom_benchmarks_register(slugs=[slug])
    spec = task.spec if task else capped_spec(TASKS[slug], config.get("max_new_tokens"))
    chat = config["chat_template"] or spec.chat
    if task is None or chat:
        formatter = chat_formatter(backend, required=config["chat_template"]) if chat else None
        task = prepare_task(spec, limit=recorded["items"], num_fewshot=config["num_fewshot"], chat_template=formatter)
        if (task.spec.spec_hash(), task.dataset_hash, len(task.items)) != (
                recorded["spec_hash"], recorded["dataset_hash"], recorded["items"]):
            raise BenchsiteError(f"run {run.pk}: the benchmark {slug} or its data changed since the run was created")
        rule = AdaptiveRule.from_config(config)
        if rule is not None:
            task = dataclasses.replace(task, items=adaptive_order(task.items, rule.seed))
    return dataclasses.replace(task, items=task.items[shard.start:shard.stop])



def _execute_items(run: Run, task: PreparedTask, backend, benchmark_id: int, on_progress) -> bool:
    """Evaluate the items not stored yet, flushing as they come. False if the run stopped meanwhile."""
    stored = set(Sample.objects.filter(run=run, benchmark_id=benchmark_id).values_list("doc_id", flat=True))
    buffer: list[Sample] = []
    rule = AdaptiveRule.from_config(run.config)
    total = run.config["tasks"][task.spec.slug]["items"]
    if rule is not None and _stopped_adaptively(run, rule, task, benchmark_id, total):
        return True  # a redelivered shard whose stored items already answered
    batch_items = ADAPTIVE_BATCH_ITEMS if rule is not None else None
    try:
        for result in evaluate_items(task, backend, skip=stored, context=score_context(run.config),
                                     batch_items=batch_items):
            buffer.append(_sample_row(run, benchmark_id, result, task.spec.primary_metric))
            if len(buffer) >= 8 or task.spec.output_type != MULTIPLE_CHOICE:
                if not _flush(run, buffer, task.spec.slug, on_progress):
                    return False
                if rule is not None and _stopped_adaptively(run, rule, task, benchmark_id, total):
                    return True
    except BudgetReached:
        _flush(run, buffer, task.spec.slug, on_progress)  # the items answered before the stop are kept
        raise
    return _flush(run, buffer, task.spec.slug, on_progress)


def _sample_row(run: Run, benchmark_id: int, result: SampleResult, primary: str) -> Sample:
    correctness = result.metrics.get("acc", result.metrics.get(primary))
    return Sample(
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


def _stopped_adaptively(run: Run, rule: AdaptiveRule, task: PreparedTask, benchmark_id: int, total: int) -> bool:
    decision = adaptive_stop(run=run, rule=rule, slug=task.spec.slug, benchmark_id=benchmark_id,
                             metric=task.spec.primary_metric, total=total)
    if decision is None:
        return False
    adaptive_record_stop(run=run, slug=task.spec.slug, decision=decision)
    progress.publish(run_id=run.pk, line=f"{task.spec.slug}: stopped after {decision.items} of {decision.of} items "
                                         f"({decision.rule.replace('_', ' ')})")
    return True


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
    Run.objects.filter(pk=run.pk).update(done=stored_samples(run))
    if count:
        if on_progress:
            on_progress(run, slug, count)
        progress.publish(run_id=run.pk, line=f"{slug}: stored {count} samples")
    return Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).exists()




def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
