"""Scores: the stored samples (the source of truth) aggregated per benchmark, with what makes them comparable."""
from __future__ import annotations

import math

from django.conf import settings
from django.db import transaction

from evaluations.custom_benchmarks import custom_benchmarks_register
from evaluations.models import ModelEntry, Run, Sample, Score
from evaluations.services.model_entries import model_path
from runner.backends.cache import cached_judge
from runner.catalog import GROUPS, TASKS
from runner.engine import aggregate
from runner.metrics import Aggregate, metric_scale, pooled
from runner.registry import AGGREGATIONS, JUDGE_MAX_NEW_TOKENS, ScoreContext
from runner.suites import group_config_key


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
    if judge["backend"] == "openai":
        return cached_judge("openai", judge["endpoint"], model=judge["model"])
    location = ModelEntry.objects.get(name=judge["name"]).location
    return cached_judge(judge["backend"], str(model_path(location)))


def scores_store(*, run: Run) -> None:
    """Aggregate the run's stored samples into Score rows, from its recorded configuration alone."""
    tasks: dict = run.config["tasks"]
    custom_benchmarks_register(slugs=list(tasks))
    benchmark_ids = dict(run.benchmarks.values_list("slug", "pk"))
    rows: list[Score] = []
    per_task: dict[str, dict[str, Aggregate]] = {}
    baselines: dict[str, dict[str, float]] = {}
    for slug, recorded in tasks.items():
        spec = TASKS[slug]
        samples = list(Sample.objects.filter(run=run, benchmark_id=benchmark_ids[slug])
                       .values_list("metrics", "loglikelihoods"))
        per_task[slug] = aggregate([metrics for metrics, _ in samples], spec.weighted_metrics)
        choices = [len(lls) for _, lls in samples if lls]
        baselines[slug] = {name: metric_scale(name).baseline(choices) for name in per_task[slug]}
        rows += _score_rows(run, benchmark_ids[slug], per_task[slug], spec.primary_metric, recorded["config_key"],
                            baselines[slug])
    for slug in run.config["benchmarks"]:
        if slug in GROUPS:
            group = GROUPS[slug]
            present = [m for m in group.members if m in per_task]
            if group.aggregation:  # the benchmark's own formula (BFCL's unweighted and weighted means)
                combined = AGGREGATIONS[group.aggregation]({m: per_task[m] for m in present})
                baseline = {name: metric_scale(name).baseline() for name in combined}
            else:
                names = {name for member in present for name in per_task[member]}
                combined = {name: pooled([per_task[m][name] for m in present if name in per_task[m]])
                            for name in sorted(names)}
                baseline = {name: _weighted_baseline([(per_task[m][name].n, baselines[m][name])
                                                      for m in present if name in per_task[m]])
                            for name in names}
            key = group_config_key(slug=slug, member_keys=[tasks[m]["config_key"] for m in group.members])
            rows += _score_rows(run, benchmark_ids[slug], combined, group.primary_metric, key, baseline)
    with transaction.atomic():
        Score.objects.filter(run=run).delete()
        Score.objects.bulk_create(rows)


def _weighted_baseline(parts: list[tuple[int, float]]) -> float:
    total = sum(n for n, _ in parts)
    return sum(n * value for n, value in parts) / total if total else 0.0


def _score_rows(run: Run, benchmark_id: int, aggregates: dict[str, Aggregate], primary: str, config_key: str,
                baselines: dict[str, float]) -> list[Score]:
    rows = []
    for name, agg in aggregates.items():
        scale = metric_scale(name)
        baseline = baselines.get(name)
        normalized = normalized_stderr = None
        if baseline is not None and not math.isnan(agg.value):
            normalized = scale.normalized(agg.value, baseline)
            normalized_stderr = scale.normalized_stderr(agg.stderr, baseline)
        rows.append(Score(
            run=run, benchmark_id=benchmark_id, metric=name, value=agg.value, stderr=agg.stderr, n=agg.n,
            is_primary=name == primary, config_key=config_key, baseline=baseline, normalized=normalized,
            normalized_stderr=normalized_stderr, scale_min=scale.minimum, scale_max=scale.maximum,
            higher_is_better=scale.higher_is_better,
        ))
    return rows
