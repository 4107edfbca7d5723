"""The recommendation: which models fit the user's limits on one suite version, ranked by weighted quality with a
paired bootstrap over items, with their serving figures on the chosen hardware and the Pareto frontier.

Results are the leaderboard's: each model's latest finished run the viewer may see whose configuration key equals
the suite's. Serving figures come from stored performance profiles (measured) or from the model's size and the
hardware's bandwidth (estimated, and labelled so).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np
from django.core.cache import cache
from django.db.models import FloatField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from costing.calculators import usd_per_1m_tokens
from costing.models import HardwareEntry
from costing.selectors import MeasuredServing, hardware_hourly_usd, matches_hardware, measured_servings
from evaluations.models import Benchmark, ModelEntry, Run, RunStatus, Sample, Score, Suite
from evaluations.selectors import visible_runs
from recommender import estimates
from recommender.ranking import BenchmarkItems, pareto_front, pareto_probability, weighted_ranking

AXES = {  # name: (title, unit, higher is better)
    "score": ("Weighted quality", "points", True),
    "usd_per_1m": ("$ per 1M tokens", "$", False),
    "p95_latency_ms": ("p95 latency", "ms", False),
    "memory_gb": ("Memory", "GB", False),
    "joules_per_token": ("Energy per token", "J", False),
}
COST_AXES = ("usd_per_1m", "p95_latency_ms", "memory_gb", "joules_per_token")
DEFAULT_CONTEXT = 4096
ITEM_CACHE_SECONDS = 24 * 3600
ADVICE_POINTS = 3.0  # advice names alternatives at most this many points below the leader (or tied with it)
ADVICE_GAIN = 1.2  # … that need at most 1/1.2 of its cost or memory
NUMBER = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]{1,2})?$"  # a JSON number as text, in float range


@dataclass(frozen=True)
class Constraints:
    max_memory_gb: float | None = None
    min_tokens_per_s: float | None = None
    max_p95_latency_ms: float | None = None
    max_usd_per_1m: float | None = None
    licenses: tuple[str, ...] = ()  # allowed licences (case-insensitive); empty: any
    min_category: dict[str, float] = field(default_factory=dict)  # category → minimum score in points (0–100)


@dataclass(frozen=True)
class RecommendQuery:
    suite: Suite
    weights: dict[str, float]
    constraints: Constraints
    hardware: HardwareEntry | None = None
    context_tokens: int = DEFAULT_CONTEXT
    seed: int = 0
    resamples: int = 1000


@dataclass
class Figures:
    """A model's serving figures on the chosen hardware; `estimated` names those not measured there."""

    memory_gb: float | None = None
    tokens_per_s: float | None = None  # one request at a time
    p95_latency_ms: float | None = None
    usd_per_1m: float | None = None
    joules_per_token: float | None = None
    estimated: list[str] = field(default_factory=list)
    measured_on: str = ""  # the profile's hardware label, when something was measured

    def value(self, axis: str) -> float | None:
        return getattr(self, axis)


@dataclass
class Candidate:
    model: ModelEntry
    score: float  # weighted, baseline-normalised, in points (0 = chance, 100 = perfect)
    ci_low: float
    ci_high: float
    p_top1: float
    p_top3: float
    tied_with_leader: bool
    on_pareto_front: bool
    p_pareto: float
    figures: Figures
    category_scores: dict[str, float | None]
    tradeoff: str = ""

    def axis(self, name: str) -> float | None:
        return self.score if name == "score" else self.figures.value(name)

    @property
    def usd_per_point(self) -> float | None:
        """Cost per accuracy point: $/1M tokens ÷ weighted score (points)."""
        usd = self.figures.usd_per_1m
        return usd / self.score if usd is not None and self.score > 0 else None


@dataclass(frozen=True)
class Excluded:
    model: ModelEntry
    reasons: list[str]


@dataclass
class Recommendation:
    query: RecommendQuery
    categories: list[tuple[str, float]]  # the suite's categories with their weights
    benchmarks: list[str]
    candidates: list[Candidate]
    excluded: list[Excluded]
    notes: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)


@dataclass
class _Result:
    run_id: int
    value: float
    normalized: float | None
    baseline: float
    best: float
    metric: str


@dataclass(frozen=True)
class _Benchmark:
    slug: str
    category: str
    metric: str
    is_group: bool
    members: tuple[str, ...]

    @property
    def sample_slugs(self) -> tuple[str, ...]:
        return self.members or (self.slug,)


def recommend(*, query: RecommendQuery, user) -> Recommendation:
    benchmarks, results, models = _suite_results(query.suite, user)
    categories = _categories(benchmarks, query.weights)
    weighted = [b for b in benchmarks if query.weights.get(b.category, 0) > 0]
    recommendation = Recommendation(query, categories, [b.slug for b in benchmarks], [], [])
    if not weighted:
        recommendation.notes.append("No benchmark of this suite version is in a category with a positive weight.")
        return recommendation
    figures = _serving_figures(models, results, query, user)
    feasible: list[ModelEntry] = []
    category_scores: dict[int, dict[str, float | None]] = {}
    for model in models:
        category_scores[model.pk] = _category_scores(model, benchmarks, results)
        reasons = _failed_constraints(model, weighted, results, category_scores[model.pk], figures[model.pk], query)
        if reasons:
            recommendation.excluded.append(Excluded(model, reasons))
        else:
            feasible.append(model)
    if feasible:
        recommendation.candidates = _ranked(feasible, weighted, results, figures, category_scores, query)
        recommendation.advice = advice(recommendation.candidates)
    return recommendation


# -- results ----------------------------------------------------------------------------------------
def _suite_results(suite: Suite, user) -> tuple[list[_Benchmark], dict[tuple[int, str], _Result], list[ModelEntry]]:
    """The suite's benchmarks with a result, each model's latest matching visible result, the models. Three queries."""
    entries: dict[str, str] = suite.entries
    order = [slug for slug in (suite.order or sorted(entries)) if slug in entries]
    rows = (
        Score.objects.filter(is_primary=True, run__status=RunStatus.FINISHED, run__in=visible_runs(user),
                             config_key__in=list(entries.values()))
        .order_by("run__model_id", "benchmark__slug", "-run__finished_at", "-run__created_at", "-run_id")
        .values_list("run__model_id", "run_id", "benchmark_id", "benchmark__slug", "metric", "value", "normalized",
                     "baseline", "scale_min", "scale_max", "higher_is_better", "config_key")
    )
    first_row: dict[str, tuple[int, str]] = {}  # slug → (benchmark id, metric) of a result that counts
    results: dict[tuple[int, str], _Result] = {}
    for (model_id, run_id, benchmark_id, slug, metric, value, normalized, baseline, low, high, higher_is_better,
         key) in rows:
        if entries.get(slug) != key or (model_id, slug) in results:
            continue  # another benchmark's configuration, or an older run
        best = high if higher_is_better else low
        results[(model_id, slug)] = _Result(run_id, value, normalized, low if baseline is None else baseline, best,
                                            metric)
        first_row.setdefault(slug, (benchmark_id, metric))
    # The benchmark rows once each: a task spec is kilobytes, not to be fetched again with every score.
    specs = {pk: (category, is_group, spec) for pk, category, is_group, spec in Benchmark.objects.filter(
        pk__in=[pk for pk, _ in first_row.values()]).values_list("pk", "category", "is_group", "task_spec")}
    infos = {}
    for slug, (benchmark_id, metric) in first_row.items():
        category, is_group, spec = specs[benchmark_id]
        infos[slug] = _Benchmark(slug, category, metric, is_group, tuple((spec or {}).get("members", ())))
    model_ids = {model_id for model_id, _ in results}
    models = list(ModelEntry.objects.filter(pk__in=model_ids).order_by("name"))
    return [infos[slug] for slug in order if slug in infos], results, models


def _categories(benchmarks: list[_Benchmark], weights: dict[str, float]) -> list[tuple[str, float]]:
    seen: list[str] = []
    for benchmark in benchmarks:
        if benchmark.category not in seen:
            seen.append(benchmark.category)
    return [(category, float(weights.get(category, 0.0))) for category in seen]


def _category_scores(model: ModelEntry, benchmarks: list[_Benchmark],
                     results: dict[tuple[int, str], _Result]) -> dict[str, float | None]:
    """Mean normalised score per category, in points, over the benchmarks the model has."""
    grouped: dict[str, list[float]] = {}
    for benchmark in benchmarks:
        result = results.get((model.pk, benchmark.slug))
        values = grouped.setdefault(benchmark.category, [])
        if result is not None and result.normalized is not None:
            values.append(result.normalized * 100)
    return {category: (sum(values) / len(values) if values else None) for category, values in grouped.items()}


# -- serving figures --------------------------------------------------------------------------------
def _serving_figures(models: list[ModelEntry], results: dict[tuple[int, str], _Result], query: RecommendQuery,
                     user) -> dict[int, Figures]:
    servings: dict[int, list[MeasuredServing]] = {}
    for serving in measured_servings(user, model_ids=[model.pk for model in models]):
        servings.setdefault(serving.model_id, []).append(serving)
    runs = _run_estimates({result.run_id for result in results.values()})
    run_of = {model_id: run_id for (model_id, _), result in results.items() for run_id in [result.run_id]}
    return {model.pk: model_figures(model, servings.get(model.pk, []), runs.get(run_of.get(model.pk)), query)
            for model in models}


def _run_estimates(run_ids: set[int]) -> dict[int, tuple[int | None, dict]]:
    return {pk: (estimate, {"backend_options": options}) for pk, estimate, options in
            Run.objects.filter(pk__in=run_ids).values_list("pk", "estimated_memory_bytes", "config__backend_options")}


def model_figures(model: ModelEntry, servings: list[MeasuredServing], run_estimate: tuple[int | None, dict] | None,
                  query: RecommendQuery) -> Figures:
    """Measured on the chosen hardware where a profile matches it, else estimated (and named in `estimated`)."""
    hardware = query.hardware
    on_hardware = [s for s in servings if matches_hardware(s, hardware)] if hardware else servings
    measured = on_hardware[0] if on_hardware else None
    figures = Figures(measured_on=measured.hardware_label if measured else "")
    weights = estimates.weights_bytes(model.parameter_count, model.quantization, model.dtype)
    estimated_total, config = run_estimate or (None, {})
    options = (config or {}).get("backend_options") or {}
    kv = estimates.kv_bytes_per_token(estimated_total_bytes=estimated_total, weights=weights,
                                      context=options.get("n_ctx", estimates.DEFAULT_CONTEXT),
                                      batch=options.get("batch_size", 1))
    peak = next((s for s in servings if s.peak_memory_bytes), None)
    if peak is not None:
        # Measured at the profile's own context; a longer one adds its KV cache where its size per token is known.
        extra = query.context_tokens - (peak.context_tokens or query.context_tokens)
        grow = extra > 0 and kv is not None
        figures.memory_gb = (peak.peak_memory_bytes + (extra * kv if grow else 0)) / 1e9
        if grow:
            figures.estimated.append("memory_gb")
    else:
        total = estimates.memory_bytes(weights=weights, kv_per_token=kv, context=query.context_tokens)
        figures.memory_gb = total / 1e9 if total is not None else None
        figures.estimated.append("memory_gb")
    full_load = None
    if measured is not None and measured.tokens_per_s:
        figures.tokens_per_s, figures.p95_latency_ms = measured.tokens_per_s, measured.p95_latency_ms
        full_load = measured.tokens_per_s_full_load
        figures.joules_per_token = measured.joules_per_token
    else:
        bandwidth = hardware.memory_bandwidth_gb_s if hardware else None
        figures.tokens_per_s = full_load = estimates.decode_tokens_per_s(weights=weights, bandwidth_gb_s=bandwidth)
        figures.estimated += ["tokens_per_s"]
    if figures.p95_latency_ms is None:
        figures.p95_latency_ms = estimates.latency_ms(figures.tokens_per_s)
        figures.estimated.append("p95_latency_ms")
    if figures.joules_per_token is None:
        figures.joules_per_token = estimates.joules_per_token(power_w=hardware.tdp_w if hardware else None,
                                                              tokens_per_s=full_load)
        figures.estimated.append("joules_per_token")
    hourly = hardware_hourly_usd(hardware) if hardware else None
    if hourly is not None and full_load:
        figures.usd_per_1m = usd_per_1m_tokens(hourly, full_load)
        if "tokens_per_s" in figures.estimated:
            figures.estimated.append("usd_per_1m")
    return figures


# -- constraints ------------------------------------------------------------------------------------
def _failed_constraints(model: ModelEntry, weighted: list[_Benchmark], results: dict[tuple[int, str], _Result],
                        category_scores: dict[str, float | None], figures: Figures,
                        query: RecommendQuery) -> list[str]:
    limits = query.constraints
    reasons = [f"no result on {b.slug} in this suite version" for b in weighted if (model.pk, b.slug) not in results]
    if limits.licenses and model.license.lower() not in {name.lower() for name in limits.licenses}:
        reasons.append(f"licence {model.license or 'unknown'} is not in the allowed list")
    for category, minimum in limits.min_category.items():
        score = category_scores.get(category)
        if score is None:
            reasons.append(f"no {category} score (minimum {minimum:g})")
        elif score < minimum:
            reasons.append(f"{category} score {score:.1f} < minimum {minimum:g}")
    checks = (
        ("memory_gb", limits.max_memory_gb, "memory", "GB", max),
        ("tokens_per_s", limits.min_tokens_per_s, "tokens/s", "", min),
        ("p95_latency_ms", limits.max_p95_latency_ms, "p95 latency", "ms", max),
        ("usd_per_1m", limits.max_usd_per_1m, "$ per 1M tokens", "", max),
    )
    for name, limit, label, unit, kind in checks:
        if limit is None:
            continue
        value = figures.value(name)
        tag = " (estimated)" if name in figures.estimated else ""
        if value is None:
            reasons.append(f"{label} unknown (limit {limit:g}{' ' + unit if unit else ''})")
        elif kind is max and value > limit:
            reasons.append(f"{label} {_figure(value)}{' ' + unit if unit else ''}{tag} > maximum {limit:g}")
        elif kind is min and value < limit:
            reasons.append(f"{label} {_figure(value)}{tag} < minimum {limit:g}")
    return reasons


# -- ranking ----------------------------------------------------------------------------------------
def _ranked(models: list[ModelEntry], weighted: list[_Benchmark], results: dict[tuple[int, str], _Result],
            figures: dict[int, Figures], category_scores: dict[int, dict[str, float | None]],
            query: RecommendQuery) -> list[Candidate]:
    items = _benchmark_items(models, weighted, results)
    ranking = weighted_ranking(items, query.weights, resamples=query.resamples, seed=query.seed)
    costs = np.asarray([[_nan(figures[m.pk].value(axis)) for axis in COST_AXES] for m in models], dtype=float)
    front = pareto_front(np.column_stack([ranking.scores, -costs]))
    p_front = pareto_probability(ranking.draws, costs)
    candidates = [
        Candidate(model, 100 * ranking.scores[i], 100 * ranking.ci_low[i], 100 * ranking.ci_high[i],
                  float(ranking.p_top1[i]), float(ranking.p_top_k[i]), bool(ranking.tied_with_leader[i]),
                  bool(front[i]), float(p_front[i]), figures[model.pk], category_scores[model.pk])
        for i, model in enumerate(models)
    ]
    candidates.sort(key=lambda candidate: (-candidate.score, candidate.model.name))
    for candidate in candidates:
        candidate.tradeoff = tradeoff_line(candidate, candidates)
    return candidates


def _benchmark_items(models: list[ModelEntry], weighted: list[_Benchmark],
                     results: dict[tuple[int, str], _Result]) -> list[BenchmarkItems]:
    """Per benchmark, every model's per-item scores on the items all of them answered (rows follow `models`)."""
    run_ids = {results[(m.pk, b.slug)].run_id for m in models for b in weighted}
    values = _item_values(run_ids, weighted)
    items = []
    for benchmark in weighted:
        runs = [results[(m.pk, benchmark.slug)] for m in models]
        stored = [values[r.run_id] for r in runs]
        keys = [(slug, doc_id) for slug in sorted(benchmark.sample_slugs)
                for doc_id in sorted(set.intersection(*(set(answers.get(slug, ())) for answers in stored)))]
        if not keys:  # no stored items (an imported score): its point value, without resampling noise
            matrix = np.asarray([[r.value] for r in runs])
        else:
            matrix = np.asarray([[answers[slug][doc_id] for slug, doc_id in keys] for answers in stored])
        clusters = np.asarray([slug for slug, _ in keys]) if benchmark.is_group and keys else None
        items.append(BenchmarkItems(benchmark.slug, benchmark.category, matrix,
                                    np.asarray([r.baseline for r in runs]), runs[0].best, clusters))
    return items


def _item_values(run_ids: set[int], benchmarks: list[_Benchmark]) -> dict[int, dict[str, dict[int, float]]]:
    """Per run and benchmark slug, the primary metric of every stored item by doc_id.

    Only finished runs come here, and a finished run's samples never change, so each run's items are cached
    under its id and the benchmarks asked for: a page of 200 models reads them from the database once.
    """
    wanted = sorted({(b.metric, slug) for b in benchmarks for slug in b.sample_slugs})
    signature = hashlib.sha256(json.dumps(wanted).encode()).hexdigest()[:16]
    keys = {run_id: f"recommender:items:v2:{run_id}:{signature}" for run_id in run_ids}
    cached = cache.get_many(list(keys.values()))
    values = {run_id: cached[key] for run_id, key in keys.items() if key in cached}
    missing = set(run_ids) - set(values)
    if missing:
        loaded = _stored_item_values(missing, benchmarks)
        cache.set_many({keys[run_id]: loaded[run_id] for run_id in missing}, timeout=ITEM_CACHE_SECONDS)
        values.update(loaded)
    return values


def _stored_item_values(run_ids: set[int], benchmarks: list[_Benchmark]) -> dict[int, dict[str, dict[int, float]]]:
    """Read out of the samples' JSON by the database, one query per metric: decoding every sample's metrics in
    Python took most of the page's time at 200 models."""
    values: dict[int, dict[str, dict[int, float]]] = {run_id: {} for run_id in run_ids}
    slugs_of: dict[str, set[str]] = {}
    for benchmark in benchmarks:
        slugs_of.setdefault(benchmark.metric, set()).update(benchmark.sample_slugs)
    slug_of = dict(Benchmark.objects.filter(slug__in={s for slugs in slugs_of.values() for s in slugs})
                   .values_list("pk", "slug"))
    for metric, slugs in slugs_of.items():
        rows = (Sample.objects.filter(run_id__in=run_ids, benchmark__slug__in=slugs)
                .annotate(text=KeyTextTransform(metric, "metrics"))
                .filter(text__regex=NUMBER)  # a judge that failed leaves no number
                .annotate(value=Cast("text", FloatField()))
                .values_list("run_id", "benchmark_id", "doc_id", "value"))
        for run_id, benchmark_id, doc_id, value in rows:
            if math.isfinite(value):
                values[run_id].setdefault(slug_of[benchmark_id], {})[doc_id] = value
    return values


def advice(ranked: list[Candidate], *, within_points: float = ADVICE_POINTS) -> list[str]:
    """Cheaper or smaller models that give up little quality against the leader: within `within_points`, or tied."""
    if len(ranked) < 2:
        return []
    leader, tips = ranked[0], []
    close = [c for c in ranked[1:] if c.tied_with_leader or leader.score - c.score <= within_points]
    for axis, noun in (("usd_per_1m", "cost per 1M tokens"), ("memory_gb", "memory")):
        mine = leader.figures.value(axis)
        options = [c for c in close if c.figures.value(axis) is not None and mine is not None
                   and c.figures.value(axis) * ADVICE_GAIN <= mine]
        if not options:
            continue
        best = min(options, key=lambda c: c.figures.value(axis))
        same_family = best.model.family and best.model.family == leader.model.family
        build = f" (a {best.model.quantization or best.model.dtype or 'different'} build of the same family)" \
            if same_family else ""
        tie = ", statistically tied" if best.tied_with_leader else ""
        tips.append(f"{best.model.name}{build} is {leader.score - best.score:.1f} points below {leader.model.name}"
                    f"{tie}, at {_times(mine / best.figures.value(axis))}× less {noun}.")
    return tips


def tradeoff_line(candidate: Candidate, ranked: list[Candidate]) -> str:
    """"3.1 points below X, 2.4× cheaper per 1M tokens": against the leader, or the leader against the runner-up."""
    if len(ranked) < 2:
        return "the only model that meets every limit"
    other = ranked[1] if candidate is ranked[0] else ranked[0]
    gap = candidate.score - other.score
    parts = [f"{abs(gap):.1f} points {'above' if gap >= 0 else 'below'} {other.model.name}"]
    for axis, smaller, larger in (("usd_per_1m", "cheaper per 1M tokens", "dearer per 1M tokens"),
                                  ("memory_gb", "less memory", "the memory")):
        mine, theirs = candidate.figures.value(axis), other.figures.value(axis)
        if mine and theirs and not 1 / 1.05 < theirs / mine < 1.05:  # within 5% is no trade-off to mention
            parts.append(_relative(theirs / mine, smaller, larger))
    return ", ".join(parts)


def _relative(ratio: float, smaller: str, larger: str) -> str:
    """"2.4× cheaper" when the other costs `ratio` (> 1) times this one's, "2.4× dearer" when 1/ratio does."""
    return f"{_times(ratio)}× {smaller}" if ratio >= 1 else f"{_times(1 / ratio)}× {larger}"


def _times(ratio: float) -> str:
    return f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.1f}"


def _figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
