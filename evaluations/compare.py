"""Comparing models on one suite version from their stored samples: paired differences, tests, Holm, verdicts.

For each model the result of a benchmark is its latest finished run visible to the viewer whose configuration
key equals the suite's (as on the leaderboard), so both models answered the same items the same way. Items
are paired by (benchmark, doc_id); a group (MMLU, BBH) pairs over all its members' items, clustered by member.
The first model is compared with each of the others, and Holm's correction runs over every test on the page.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from django.core.paginator import Page, Paginator
from django.db.models import Q

from evaluations import statistics
from evaluations.models import ModelEntry, RunStatus, Sample, Score, Suite
from evaluations.selectors import visible_runs

MAX_MODELS = 4
DISAGREEMENTS_PER_PAGE = 20

BETTER = "better"
WORSE = "worse"
TIED = "tied"
NOT_COMPARED = "not compared"

Item = tuple[str, int]  # (benchmark slug of the sample, doc_id): members of a group keep their own slug


@dataclass(frozen=True)
class BenchmarkInfo:
    slug: str
    title: str
    category: str
    metric: str  # the primary metric, the per-item score that is paired
    is_group: bool
    members: tuple[str, ...] = ()

    @property
    def sample_slugs(self) -> tuple[str, ...]:
        """The benchmarks its samples are stored under: a group's members, else itself."""
        return self.members or (self.slug,)

    @property
    def cluster_label(self) -> str:
        """What the clusters of a group are called on the page."""
        return "subject" if self.slug == "mmlu" else "task" if self.is_group else ""


@dataclass(frozen=True)
class ModelResult:
    """One model's score on one benchmark: the Score row of the run the comparison uses."""

    run_id: int
    value: float
    stderr: float | None
    n: int
    normalized: float | None
    scale_max: float
    higher_is_better: bool


@dataclass(frozen=True)
class PairRow:
    """One benchmark, model A − model B over their shared items."""

    benchmark: BenchmarkInfo
    model_a: ModelEntry
    model_b: ModelEntry
    result_a: ModelResult | None
    result_b: ModelResult | None
    n_shared: int
    delta: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    test: str
    p_value: float | None
    correlation: float | None
    clusters: int | None
    minimum_detectable: float | None  # at α = 0.05 with 80% power, from this difference's SE
    discordant: tuple[int, int] | None = None  # McNemar's (only A right, only B right)
    n_differing: int = 0  # shared items the two models scored differently
    p_value_holm: float | None = None
    verdict: str = NOT_COMPARED

    def as_dict(self) -> dict:
        """The API's benchmark row (first model minus second)."""
        return {
            "benchmark": self.benchmark.slug, "metric": self.benchmark.metric, "n_shared": self.n_shared,
            "scores": {self.model_a.slug: _value(self.result_a), self.model_b.slug: _value(self.result_b)},
            "delta": self.delta, "ci_low": self.ci_low, "ci_high": self.ci_high, "p_value": self.p_value,
            "p_value_holm": self.p_value_holm, "test": self.test, "correlation": self.correlation,
            "se": self.se, "clusters": self.clusters, "minimum_detectable_difference": self.minimum_detectable,
            "verdict": self.verdict,
        }


@dataclass
class PairComparison:
    model_a: ModelEntry
    model_b: ModelEntry
    rows: list[PairRow]


@dataclass(frozen=True)
class CategoryScore:
    """Mean baseline-normalised score (0 = chance, 1 = perfect) of a model's benchmarks in one category."""

    category: str
    benchmarks: tuple[str, ...]
    scores: dict[int, float | None]  # model id -> mean over the benchmarks it has


@dataclass
class Comparison:
    suite: Suite
    models: list[ModelEntry]
    benchmarks: list[BenchmarkInfo]
    results: dict[tuple[int, str], ModelResult]  # (model id, benchmark slug)
    pairs: list[PairComparison]
    categories: list[CategoryScore]
    alpha: float = statistics.ALPHA

    def result(self, model: ModelEntry, slug: str) -> ModelResult | None:
        return self.results.get((model.pk, slug))


@dataclass(frozen=True)
class Answer:
    model: ModelEntry
    value: float | None  # the item's primary metric; None where this model has no score for it
    sample: Sample | None


@dataclass(frozen=True)
class Disagreement:
    """One item the models scored differently, with every model's answer."""

    benchmark: str  # the sample's benchmark: a member's slug in a group
    doc_id: int
    answers: list[Answer]

    @property
    def first(self) -> Sample:
        return next(answer.sample for answer in self.answers if answer.sample is not None)


# -- reads --------------------------------------------------------------------------------------
def models_find(references: Iterable[str]) -> tuple[list[ModelEntry], list[str]]:
    """Models by slug or name, case-insensitively, in the order given without repeats; and the unknown ones."""
    wanted = [reference.strip() for reference in references if reference.strip()]
    if not wanted:
        return [], []
    query = Q()
    for reference in wanted:
        query |= Q(slug__iexact=reference) | Q(name__iexact=reference)
    entries = list(ModelEntry.objects.filter(query).order_by("pk"))
    found: list[ModelEntry] = []
    missing: list[str] = []
    for reference in wanted:
        entry = next((e for e in entries if reference.lower() in (e.slug.lower(), e.name.lower())), None)
        if entry is None:
            missing.append(reference)
        elif entry not in found:
            found.append(entry)
    return found, missing


def model_comparison(*, models: Sequence[ModelEntry], suite: Suite, user, alpha: float = statistics.ALPHA,
                     seed: int = statistics.BOOTSTRAP_SEED) -> Comparison:
    """The first model against each other one on every benchmark of the suite version. Two queries."""
    models = list(models)[:MAX_MODELS]
    benchmarks, results = _suite_results(models, suite, user)
    items = _item_values(results.values(), benchmarks)
    raw = [(other, [_pair_row(info, models[0], other, results, items, seed) for info in benchmarks])
           for other in models[1:]]
    adjusted = iter(_with_holm([row for _, rows in raw for row in rows], alpha))
    pairs = [PairComparison(models[0], other, [next(adjusted) for _ in rows]) for other, rows in raw]
    return Comparison(suite, models, benchmarks, results, pairs, _categories(benchmarks, models, results), alpha)


def pair_comparison(*, model_a: ModelEntry, model_b: ModelEntry, user, alpha: float = statistics.ALPHA,
                    seed: int = statistics.BOOTSTRAP_SEED) -> PairComparison:
    """model_a minus model_b on every benchmark both ran under one configuration, in any suite or none (a
    fine-tune against its base); Holm over the pair's tests. Three queries."""
    benchmarks, results = _shared_configuration_results(model_a, model_b, user)
    items = _item_values(results.values(), benchmarks)
    rows = [_pair_row(info, model_a, model_b, results, items, seed) for info in benchmarks]
    return PairComparison(model_a, model_b, _with_holm(rows, alpha))


def disagreement_page(*, models: Sequence[ModelEntry], suite: Suite, user, benchmark: str,
                      page: int | str | None = None) -> tuple[BenchmarkInfo, Page] | None:
    """Items of one benchmark the models did not all score the same, each with every model's sample.

    None when the benchmark is not in the suite or fewer than two of the models have a result on it.
    """
    models = list(models)[:MAX_MODELS]
    benchmarks, results = _suite_results(models, suite, user, only=benchmark)
    if not benchmarks:
        return None
    info = benchmarks[0]
    runs = [results.get((model.pk, info.slug)) for model in models]
    if sum(run is not None for run in runs) < 2:
        return None
    items = _item_values([run for run in runs if run is not None], benchmarks)
    per_model = [items.get(run.run_id, {}) if run else {} for run in runs]
    keys = sorted({key for values in per_model for key in values})
    differing = [key for key in keys if len({values.get(key) for values in per_model if key in values}) > 1]
    paged = Paginator(differing, DISAGREEMENTS_PER_PAGE).get_page(page)
    samples = _samples_for(list(paged.object_list), [run.run_id for run in runs if run])
    paged.object_list = [
        Disagreement(slug, doc_id, [
            Answer(model, values.get((slug, doc_id)), samples.get((run.run_id, slug, doc_id)) if run else None)
            for model, run, values in zip(models, runs, per_model)
        ])
        for slug, doc_id in paged.object_list
    ]
    return info, paged


# -- building blocks ----------------------------------------------------------------------------
def _suite_results(models: list[ModelEntry], suite: Suite, user,
                   only: str | None = None) -> tuple[list[BenchmarkInfo], dict[tuple[int, str], ModelResult]]:
    """The suite's benchmarks (those with a result) and each model's latest matching visible result."""
    entries: dict[str, str] = {slug: key for slug, key in suite.entries.items() if only in (None, slug)}
    order = [slug for slug in (suite.order or sorted(entries)) if slug in entries]
    infos: dict[str, BenchmarkInfo] = {}
    results: dict[tuple[int, str], ModelResult] = {}
    for row in _latest_primary_rows(models, user, config_key__in=list(entries.values())):
        slug = row["benchmark__slug"]
        key = (row["run__model_id"], slug)
        if entries.get(slug) != row["config_key"] or key in results:
            continue  # another benchmark's key, or an older run of this one
        results[key] = _result(row)
        infos.setdefault(slug, _info(row))
    return [infos[slug] for slug in order if slug in infos], results


def _latest_primary_rows(models: list[ModelEntry], user, **filters):
    """Primary scores of finished visible runs of the models, latest run first within (model, benchmark)."""
    return (
        Score.objects.filter(is_primary=True, run__status=RunStatus.FINISHED, run__in=visible_runs(user),
                             run__model__in=models, **filters)
        .order_by("run__model_id", "benchmark__slug", "-run__finished_at", "-run__created_at", "-run_id")
        .values("run__model_id", "run_id", "benchmark__slug", "benchmark__title", "benchmark__category",
                "benchmark__is_group", "benchmark__task_spec", "metric", "value", "stderr", "n", "normalized",
                "scale_max", "higher_is_better", "config_key")
    )


def _result(row: dict) -> ModelResult:
    return ModelResult(row["run_id"], row["value"], row["stderr"], row["n"], row["normalized"], row["scale_max"],
                       row["higher_is_better"])


def _info(row: dict) -> BenchmarkInfo:
    slug = row["benchmark__slug"]
    return BenchmarkInfo(slug, row["benchmark__title"] or slug, row["benchmark__category"], row["metric"],
                         row["benchmark__is_group"], tuple((row["benchmark__task_spec"] or {}).get("members", ())))


def _shared_configuration_results(model_a: ModelEntry, model_b: ModelEntry, user
                                  ) -> tuple[list[BenchmarkInfo], dict[tuple[int, str], ModelResult]]:
    """Per benchmark, both models' latest results under the configuration key of model_a's latest run that
    model_b also has (so both answered the same items the same way); benchmarks by slug."""
    latest: dict[tuple[int, str, str], dict] = {}
    for row in _latest_primary_rows([model_a, model_b], user):
        latest.setdefault((row["run__model_id"], row["benchmark__slug"], row["config_key"]), row)
    infos: dict[str, BenchmarkInfo] = {}
    results: dict[tuple[int, str], ModelResult] = {}
    for (model_id, slug, key), row in latest.items():  # model_a's keys in recency order within each benchmark
        other = latest.get((model_b.pk, slug, key))
        if model_id != model_a.pk or other is None or (model_a.pk, slug) in results:
            continue
        results[(model_a.pk, slug)], results[(model_b.pk, slug)] = _result(row), _result(other)
        infos[slug] = _info(row)
    return [infos[slug] for slug in sorted(infos)], results


def _item_values(results: Iterable[ModelResult], benchmarks: list[BenchmarkInfo]) -> dict[int, dict[Item, float]]:
    """Per run, the primary metric of every stored item of the compared benchmarks (members for a group)."""
    metric_of: dict[str, str] = {}
    for info in benchmarks:
        for slug in info.sample_slugs:
            metric_of[slug] = info.metric
    run_ids = {result.run_id for result in results}
    values: dict[int, dict[Item, float]] = {run_id: {} for run_id in run_ids}
    rows = Sample.objects.filter(run_id__in=run_ids, benchmark__slug__in=list(metric_of)).values_list(
        "run_id", "benchmark__slug", "doc_id", "metrics")
    for run_id, slug, doc_id, metrics in rows:
        value = (metrics or {}).get(metric_of[slug])
        if isinstance(value, (int, float)) and math.isfinite(value):  # a judge that failed leaves no score
            values[run_id][(slug, doc_id)] = float(value)
    return values


def _pair_row(info: BenchmarkInfo, model_a: ModelEntry, model_b: ModelEntry,
              results: dict[tuple[int, str], ModelResult], items: dict[int, dict[Item, float]], seed: int) -> PairRow:
    result_a, result_b = results.get((model_a.pk, info.slug)), results.get((model_b.pk, info.slug))
    if result_a is None or result_b is None:
        return PairRow(info, model_a, model_b, result_a, result_b, 0, None, None, None, None, statistics.NO_TEST,
                       None, None, None, None)
    values_a, values_b = items[result_a.run_id], items[result_b.run_id]
    slugs = set(info.sample_slugs)
    shared = sorted(key for key in values_a.keys() & values_b.keys() if key[0] in slugs)
    a = [values_a[key] for key in shared]
    b = [values_b[key] for key in shared]
    clusters = [slug for slug, _ in shared] if info.is_group else None
    difference = statistics.paired_difference(a, b, clusters)
    interval = statistics.paired_bootstrap_ci(a, b, clusters=clusters, seed=seed)
    test = statistics.paired_test(a, b)
    return PairRow(
        info, model_a, model_b, result_a, result_b, len(shared),
        difference.delta if shared else None, difference.se,
        interval.low if interval else None, interval.high if interval else None,
        test.test, test.p_value, difference.correlation, difference.clusters,
        statistics.minimum_detectable_difference(se=difference.se) if difference.se else None, test.discordant,
        sum(x != y for x, y in zip(a, b)),
    )


def _with_holm(rows: list[PairRow], alpha: float) -> list[PairRow]:
    """Holm over every test on the page; a verdict is better or worse only when the adjusted p is below α."""
    adjusted = statistics.holm([row.p_value for row in rows])
    return [replace(row, p_value_holm=p_holm, verdict=_verdict(row, p_holm, alpha))
            for row, p_holm in zip(rows, adjusted)]


def _verdict(row: PairRow, p_holm: float | None, alpha: float) -> str:
    if p_holm is None or row.delta is None:
        return NOT_COMPARED
    if p_holm >= alpha or row.delta == 0:
        return TIED
    higher_is_better = row.result_a.higher_is_better if row.result_a else True
    return BETTER if (row.delta > 0) == higher_is_better else WORSE


def _categories(benchmarks: list[BenchmarkInfo], models: list[ModelEntry],
                results: dict[tuple[int, str], ModelResult]) -> list[CategoryScore]:
    order: dict[str, list[str]] = {}
    for info in benchmarks:
        order.setdefault(info.category, []).append(info.slug)
    categories = []
    for category, slugs in order.items():
        scores: dict[int, float | None] = {}
        for model in models:
            present = [results[(model.pk, slug)].normalized for slug in slugs if (model.pk, slug) in results]
            known = [value for value in present if value is not None]
            scores[model.pk] = sum(known) / len(known) if known else None
        categories.append(CategoryScore(category, tuple(slugs), scores))
    return categories


def _samples_for(keys: list[Item], run_ids: list[int]) -> dict[tuple[int, str, int], Sample]:
    if not keys:
        return {}
    wanted = Q()
    for slug, doc_id in keys:
        wanted |= Q(benchmark__slug=slug, doc_id=doc_id)
    samples = Sample.objects.filter(wanted, run_id__in=run_ids).select_related("benchmark")
    return {(sample.run_id, sample.benchmark.slug, sample.doc_id): sample for sample in samples}


def _value(result: ModelResult | None) -> float | None:
    return result.value if result else None


# -- few-shot prompting of a base against its fine-tune -------------------------------------------
FEWSHOT_COUNTS = (0, 1, 3, 5)


@dataclass(frozen=True)
class FewshotPoint:
    benchmark: str
    shots: int
    model: ModelEntry
    result: ModelResult


def fewshot_points(*, tuned: ModelEntry, base: ModelEntry, benchmarks: Sequence[str], user,
                   shots: Sequence[int] = FEWSHOT_COUNTS) -> list[FewshotPoint]:
    """The base at each shot count and the fine-tune at zero shots on the same items (the configuration of the
    fine-tune's latest zero-shot run of each benchmark, shots changed). Two queries."""
    from runner.suites import task_config_key

    wanted: dict[str, tuple[str, int]] = {}  # configuration key -> (benchmark, shots)
    for row in _latest_primary_rows([tuned], user, benchmark__slug__in=list(benchmarks)).values(
            "benchmark__slug", "config_key", "run__config"):
        slug = row["benchmark__slug"]
        config = row["run__config"] or {}
        recorded = config.get("tasks", {}).get(slug)
        if not recorded or recorded["num_fewshot"] != 0 or any(s == slug for s, _ in wanted.values()):
            continue  # not zero-shot, or an older run of a benchmark already taken
        for count in sorted({0, *shots}):
            key = task_config_key(slug=slug, spec_hash=recorded["spec_hash"], limit=recorded["limit"],
                                  items=recorded["items"], num_fewshot=count,
                                  chat_template=bool(config.get("chat_template")))
            wanted[key] = (slug, count)
    points: dict[tuple[str, int, int], FewshotPoint] = {}
    for row in _latest_primary_rows([tuned, base], user, config_key__in=list(wanted)):
        slug, count = wanted[row["config_key"]]
        model = tuned if row["run__model_id"] == tuned.pk else base
        if model == base or count == 0:
            points.setdefault((slug, count, model.pk), FewshotPoint(slug, count, model, _result(row)))
    return sorted(points.values(), key=lambda p: (p.benchmark, p.model != base, p.shots))
