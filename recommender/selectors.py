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
from django.conf import settings
from django.core.cache import cache
from django.db.models import FloatField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from benchsite.formats import localize_digits
from costing.models import HardwareEntry
from evaluations.models import Benchmark, ModelEntry, RunStatus, Sample, Score, Suite, category_label
from evaluations.selectors import visible_runs
from recommender.advice import advice, tradeoff_line
from recommender.figures import Figures, serving_figures
from recommender.ranking import BenchmarkItems, pareto_front, pareto_probability, weighted_ranking

AXES = {  # name: (title, unit, higher is better)
    "score": (gettext_lazy("Weighted quality"), gettext_lazy("points"), True),
    "usd_per_1m": (gettext_lazy("$ per 1M tokens"), "$", False),
    "p95_latency_ms": (gettext_lazy("p95 latency"), "ms", False),
    "memory_gb": (gettext_lazy("Memory"), "GB", False),
    "joules_per_token": (gettext_lazy("Energy per token"), "J", False),
}
COST_AXES = ("usd_per_1m", "p95_latency_ms", "memory_gb", "joules_per_token")
DEFAULT_CONTEXT = 4096
ITEM_CACHE_SECONDS = 24 * 3600
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
        recommendation.notes.append(_("No benchmark of this suite version is in a category with a positive weight."))
        return recommendation
    run_of = {model_id: result.run_id for (model_id, _), result in results.items()}
    figures = serving_figures(models, run_of, hardware=query.hardware, context_tokens=query.context_tokens, user=user)
    feasible: list[ModelEntry] = []
    category_scores: dict[int, dict[str, float | None]] = {}
    for model in models:
        category_scores[model.pk] = _category_scores(model, benchmarks, results)
        reasons = _failed_constraints(model, weighted, results, category_scores[model.pk], figures[model.pk], query)
        if reasons:
            recommendation.excluded.append(Excluded(model, reasons))
        else:
            feasible.append(model)
    limit, met = settings.BENCHSITE_RECOMMEND_MAX_CANDIDATES, len(feasible)
    if met > limit:
        feasible = _best_by_stored_scores(feasible, categories, category_scores, limit)
        recommendation.notes.append(
            _("%(met)s models meet your limits: the %(ranked)s with the best stored scores are ranked and resampled; "
              "the others have practically no chance of rank 1.") % {"met": met, "ranked": limit})
    if feasible:
        recommendation.candidates = _ranked(feasible, weighted, results, figures, category_scores, query)
        recommendation.advice = advice(recommendation.candidates)
    return recommendation


def _best_by_stored_scores(models: list[ModelEntry], categories: list[tuple[str, float]],
                           category_scores: dict[int, dict[str, float | None]], limit: int) -> list[ModelEntry]:
    """The `limit` models with the highest weighted point score (a missing category counts 0), for a board
    too large to bootstrap whole: resampling thousands of models × resamples per request is what this avoids."""
    total = sum(weight for _, weight in categories) or 1.0

    def point(model: ModelEntry) -> float:
        scores = category_scores[model.pk]
        return sum(weight * (scores.get(category) or 0.0) for category, weight in categories) / total

    return sorted(models, key=lambda model: (-point(model), model.name))[:limit]


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


# -- constraints ------------------------------------------------------------------------------------
def _failed_constraints(model: ModelEntry, weighted: list[_Benchmark], results: dict[tuple[int, str], _Result],
                        category_scores: dict[str, float | None], figures: Figures,
                        query: RecommendQuery) -> list[str]:
    limits = query.constraints
    reasons = [_("no result on %(benchmark)s in this suite version") % {"benchmark": b.slug}
               for b in weighted if (model.pk, b.slug) not in results]
    if limits.licenses and model.license.lower() not in {name.lower() for name in limits.licenses}:
        reasons.append(_("licence %(license)s is not in the allowed list") % {"license": model.license or _("unknown")})
    for category, minimum in limits.min_category.items():
        score = category_scores.get(category)
        if score is None:
            reasons.append(_("no %(category)s score (minimum %(minimum)s)")
                           % {"category": category_label(category), "minimum": localize_digits(f"{minimum:g}")})
        elif score < minimum:
            reasons.append(_("%(category)s score %(score)s < minimum %(minimum)s")
                           % {"category": category_label(category), "score": localize_digits(f"{score:.1f}"),
                              "minimum": localize_digits(f"{minimum:g}")})
    checks = (
        ("memory_gb", limits.max_memory_gb, _("memory"), "GB", max),
        ("tokens_per_s", limits.min_tokens_per_s, _("tokens/s"), "", min),
        ("p95_latency_ms", limits.max_p95_latency_ms, _("p95 latency"), "ms", max),
        ("usd_per_1m", limits.max_usd_per_1m, _("$ per 1M tokens"), "", max),
    )
    for name, limit, label, unit, kind in checks:
        if limit is None:
            continue
        value = figures.value(name)
        tag = " " + _("(estimated)") if name in figures.estimated else ""
        shown_limit = localize_digits(f"{limit:g}")
        if value is None:
            reasons.append(_("%(measure)s unknown (limit %(limit)s)")
                           % {"measure": label, "limit": f"{shown_limit}{' ' + unit if unit else ''}"})
        elif kind is max and value > limit:
            reasons.append(_("%(measure)s %(value)s > maximum %(limit)s")
                           % {"measure": label, "value": f"{_figure(value)}{' ' + unit if unit else ''}{tag}",
                              "limit": shown_limit})
        elif kind is min and value < limit:
            reasons.append(_("%(measure)s %(value)s < minimum %(limit)s")
                           % {"measure": label, "value": f"{_figure(value)}{tag}", "limit": shown_limit})
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


def _figure(value: float) -> str:
    return localize_digits(f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}")


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
