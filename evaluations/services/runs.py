"""A run's lifecycle writes: create (with its shards), submit to workers, cancel, fail, finish."""
from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from evaluations import progress
from evaluations.signals import run_status_announce
from evaluations.models import ACTIVE_STATUSES, Run, RunStatus, Sample, Shard, ShardStatus
from evaluations.services import manifests, regressions
from evaluations.services.spend import run_spend_usage
from runner.pricing import Pricing, format_usd

if TYPE_CHECKING:
    from evaluations.services.plans import RunPlan

EXECUTE_SHARD_TASK = "evaluations.tasks.execute_shard"


def run_create(*, plan: RunPlan, user=None, suite=None, is_private: bool = False,
               submission_key: str | None = None) -> Run:
    """Store a queued run with its shards; placement picks the hardware queue or refuses."""
    # Imported here: the web process imports this module to cancel runs, and must not load the catalogue.
    from evaluations.services.benchmarks import plan_benchmarks
    from evaluations.services.placement import run_placement

    queue, estimate = run_placement(plan=plan)
    with transaction.atomic():
        run = Run.objects.create(
            model=plan.model,
            suite=suite,
            requested_benchmarks=plan.requested,
            backend=plan.backend,
            preset=plan.preset,
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
        run.benchmarks.set(plan_benchmarks(plan))
        Shard.objects.bulk_create(
            Shard(run=run, benchmark_slug=task.spec.slug, start=start, stop=min(start + size, len(task.items)))
            for task in plan.tasks
            # An adaptive benchmark is one shard: its stopping rule reads the items in order.
            for size in [len(task.items) if plan.config.get("adaptive") else settings.BENCHSITE_SHARD_SIZE]
            for start in range(0, len(task.items), size)
        )
    return run


def run_submit(*, plan: RunPlan, user=None, is_private: bool = False, suite=None) -> tuple[Run, bool]:
    """Create and enqueue a run, or return the active run of an identical submission.

    Shards are enqueued on commit, so a submission inside a transaction that rolls back never runs.
    """
    identity = f"{plan.config_hash}:{user.pk if user else ''}"
    if plan.config.get("pricing"):  # not in the hash, but a different budget is a different submission
        identity += ":" + json.dumps(plan.config["pricing"], sort_keys=True)
    key = hashlib.sha256(identity.encode()).hexdigest()
    active = Run.objects.filter(submission_key=key, status__in=ACTIVE_STATUSES).first()
    if active:
        return active, False
    try:
        with transaction.atomic():
            run = run_create(plan=plan, user=user, is_private=is_private, submission_key=key, suite=suite)
    except IntegrityError:  # an identical submission won the race
        return Run.objects.get(submission_key=key, status__in=ACTIVE_STATUSES), False
    shard_ids = list(run.shards.values_list("pk", flat=True))
    transaction.on_commit(lambda: shards_enqueue(shard_ids=shard_ids, queue=run.queue))
    return run, True


def shards_enqueue(*, shard_ids: list[int], queue: str) -> None:
    # Looked up by name: the task module imports the services, not the other way round.
    if EXECUTE_SHARD_TASK not in current_app.tasks:
        current_app.loader.import_default_modules()  # the app's autodiscovery, as a worker runs it at start
    task = current_app.tasks[EXECUTE_SHARD_TASK]
    for shard_id in shard_ids:
        task.apply_async((shard_id,), queue=queue)


def run_can_cancel(*, run: Run, user) -> bool:
    return bool(user and user.is_authenticated and (user.is_staff or run.created_by_id == user.pk))


def run_cancel(*, run: Run) -> bool:
    """Cancel a queued or running run; running shards stop at their next checkpoint."""
    with transaction.atomic():
        changed = Run.objects.filter(pk=run.pk, status__in=ACTIVE_STATUSES).update(
            status=RunStatus.CANCELLED, finished_at=timezone.now(), submission_key=None
        )
        Shard.objects.filter(run=run, status=ShardStatus.QUEUED).update(status=ShardStatus.CANCELLED)
    if changed:
        progress.publish(run_id=run.pk, line="run cancelled")
        run_status_announce(run_id=run.pk, status=RunStatus.CANCELLED)
    return bool(changed)


def run_finish_if_complete(*, run: Run) -> bool:
    """Once every shard is finished, aggregate the stored samples and finish the run (exactly once).

    True for the call that finished it.
    """
    from evaluations.services.scoring import scores_store

    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status != RunStatus.RUNNING or locked.shards.exclude(status=ShardStatus.FINISHED).exists():
            return False
        scores_store(run=locked)
        Run.objects.filter(pk=run.pk).update(
            status=RunStatus.FINISHED, finished_at=timezone.now(), submission_key=None, done=stored_samples(run)
        )
    progress.publish(run_id=run.pk, line="run finished")
    run_status_announce(run_id=run.pk, status=RunStatus.FINISHED)
    manifests.manifest_after_finish(run_id=run.pk)
    regressions.regressions_after_finish(run_id=run.pk)
    return True


def run_mark_failed(*, run: Run, error: str) -> None:
    changed = Run.objects.filter(pk=run.pk, status__in=ACTIVE_STATUSES).update(
        status=RunStatus.FAILED, error=error[:2000], finished_at=timezone.now(), submission_key=None
    )
    Shard.objects.filter(run=run, status=ShardStatus.QUEUED).update(status=ShardStatus.CANCELLED)
    if changed:
        progress.publish(run_id=run.pk, line=f"run failed: {error}")
        run_status_announce(run_id=run.pk, status=RunStatus.FAILED)


def run_mark_budget_reached(*, run: Run) -> str:
    """Stop a priced run whose next batch could pass its budget; its stored samples stay. Returns the reason."""
    pricing = Pricing.from_config(run.config)
    assert pricing is not None and pricing.budget_usd is not None
    spent = pricing.cost(run_spend_usage(run_id=run.pk))
    done = Sample.objects.filter(run_id=run.pk).count()
    total = Run.objects.filter(pk=run.pk).values_list("total", flat=True).first() or run.total
    reason = f"budget of {format_usd(pricing.budget_usd)} reached after {format_usd(spent)} ({done} of {total} items)"
    changed = Run.objects.filter(pk=run.pk, status__in=ACTIVE_STATUSES).update(
        status=RunStatus.BUDGET_REACHED, error=reason, finished_at=timezone.now(), submission_key=None, done=done
    )
    Shard.objects.filter(run=run, status=ShardStatus.QUEUED).update(status=ShardStatus.CANCELLED)
    if changed:
        progress.publish(run_id=run.pk, line=f"run stopped: {reason}")
        run_status_announce(run_id=run.pk, status=RunStatus.BUDGET_REACHED)
    return reason


def run_mark_timed_out(*, run: Run) -> None:
    if Run.objects.filter(pk=run.pk, status__in=ACTIVE_STATUSES).update(
        status=RunStatus.TIMED_OUT, finished_at=timezone.now(), submission_key=None
    ):
        run_status_announce(run_id=run.pk, status=RunStatus.TIMED_OUT)


def stored_samples(run: Run) -> Coalesce:
    """The run's stored sample count, evaluated by the database when the UPDATE runs."""
    count = Sample.objects.filter(run_id=run.pk).order_by().values("run_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(count[:1]), 0)
