"""Reads shaped for the leaderboard pages: the models × benchmarks table, model and run pages, samples."""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from statistics import fmean

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from evaluations.models import (
    ACTIVE_STATUSES,
    Benchmark,
    ModelEntry,
    Regression,
    RegressionWatch,
    Run,
    RunStatus,
    Score,
    Suite,
    WorkerRecord,
)
from evaluations import statistics
from evaluations.history import HistorySeries, model_history, model_regressions
from evaluations.progress import RunProgress, progress_snapshot
from evaluations.run_performance import RunPerformanceRecord
from evaluations.selectors import real_runs, run_samples, visible_runs, worker_silence_cutoff
from leaderboard.performance import RunPerformanceDetail, run_performance_detail

SORT_AVERAGE = "average"
SORT_MODEL = "model"
# Below this many items a score most likely comes from a --limit run: a subset, with wide error bars.
SUBSET_ITEMS = 100
LINEAGE_BASE, LINEAGE_DERIVED = "base", "fine_tuned"
LINEAGE_FILTERS = {LINEAGE_BASE: "Base models only", LINEAGE_DERIVED: "Fine-tunes, merges, adapters, quantizations"}
# Suites offered first when no suite is asked for: the full one once it has results, else the demo.
DEFAULT_SUITE_ORDER = ("standard", "demo")


@dataclass(frozen=True)
class Column:
    slug: str
    title: str
    metric: str


@dataclass(frozen=True)
class Cell:
    value: float
    stderr: float | None
    n: int
    run_id: int
    normalized: float | None
    normalized_stderr: float | None
    scale_max: float
    regressed: bool = False  # the run was significantly worse than the model's previous one here

    @property
    def is_subset(self) -> bool:
        return self.n < SUBSET_ITEMS

    @property
    def is_fraction(self) -> bool:
        """0-1 metrics are shown in percent; others (MT-Bench's 1-10) on their own scale."""
        return self.scale_max <= 1.0


@dataclass
class LeaderboardRow:
    model: ModelEntry
    cells: list[Cell | None]  # aligned with Leaderboard.columns
    average: float | None  # mean of baseline-normalised scores over the covered columns
    average_stderr: float | None
    covered: int  # how many columns the average is taken over


@dataclass
class Leaderboard:
    columns: list[Column]
    rows: list[LeaderboardRow]
    sort: str
    descending: bool
    suite: Suite | None = None
    suites: list[Suite] = field(default_factory=list)
    lineage: str = ""  # "", LINEAGE_BASE or LINEAGE_DERIVED


@dataclass
class BenchmarkScores:
    slug: str
    title: str
    run_id: int
    metrics: list[Score]
    members: list[BenchmarkScores] = field(default_factory=list)


@dataclass
class ModelDetail:
    model: ModelEntry
    runs: list[Run]
    scores: list[BenchmarkScores]
    history: list[HistorySeries] = field(default_factory=list)
    regressions: list[Regression] = field(default_factory=list)
    watch: RegressionWatch | None = None  # the viewer's subscription to this model's regressions


@dataclass
class RunDetail:
    run: Run
    scores: list[BenchmarkScores]
    sample_benchmarks: list[tuple[str, str]]  # (slug, title) of the run's non-group benchmarks
    performance: RunPerformanceDetail | None = None


# -- leaderboard ---------------------------------------------------------------------------------
def suite_choices() -> list[Suite]:
    """Suite versions with public results, the default ones first, newest version first within a slug.

    Two queries: the suites, and which of their configuration keys have a public finished score.
    """
    suites = list(Suite.objects.order_by("slug", F("created_at").desc(nulls_last=True), "-pk"))
    keys = {key for suite in suites for key in suite.entries.values()}
    present = set(
        Score.objects.filter(real_runs("run__"), is_primary=True, run__status=RunStatus.FINISHED,
                             run__is_private=False, config_key__in=keys).values_list("config_key", flat=True).distinct()
    )
    rank = {slug: index for index, slug in enumerate(DEFAULT_SUITE_ORDER)}
    shown = [suite for suite in suites if present & set(suite.entries.values())]
    return sorted(shown, key=lambda suite: rank.get(suite.slug, len(rank)))


def leaderboard_rows(*, suite_id: int | str | None = None, sort: str | None = None,
                     descending: bool = True, lineage: str | None = None) -> Leaderboard:
    """Models × the chosen suite version's benchmarks, from public finished runs whose configuration matches.

    A cell is the latest primary score whose configuration key equals the suite's for that benchmark, so
    runs on other items, few-shot counts or prompt versions never mix in. Four queries whatever the size.
    """
    suites = suite_choices()
    suite = _chosen_suite(suites, suite_id)
    if suite is None:
        return Leaderboard([], [], SORT_AVERAGE, descending, None, suites)
    entries: dict[str, str] = suite.entries
    slugs = [slug for slug in (suite.order or sorted(entries)) if slug in entries]
    latest = list(
        _latest_primary_scores(config_key__in=list(entries.values()), run__is_private=False)
        .annotate(regressed=Exists(Regression.objects.filter(run_id=OuterRef("run_id"),
                                                             benchmark_id=OuterRef("benchmark_id"))))
        .values(
            "run__model_id", "benchmark__slug", "metric", "value", "stderr", "n", "run_id", "normalized",
            "normalized_stderr", "scale_max", "regressed",
        )
    )
    titles = _benchmark_titles(slugs)
    metrics = {row["benchmark__slug"]: row["metric"] for row in latest}
    columns = [Column(slug, titles.get(slug, slug), metrics.get(slug, "")) for slug in slugs]
    cells = {(row["run__model_id"], row["benchmark__slug"]): _cell(row) for row in latest}
    model_ids = {model_id for model_id, _ in cells}
    # Flags a moderator confirmed (community.ModelFlag) are marked on the board, counted in the same query.
    models = (ModelEntry.objects.filter(pk__in=model_ids)
              .annotate(confirmed_flags=Count("flags", filter=Q(flags__state="confirmed"))).order_by("name"))
    lineage = lineage if lineage in LINEAGE_FILTERS else ""
    if lineage:  # base models have no base; everything derived (fine-tune, merge, adapter, quantization) has one
        models = models.filter(base_model__isnull=lineage == LINEAGE_BASE)
    rows = [_row(model, [cells.get((model.pk, slug)) for slug in slugs]) for model in models]
    sort = sort if sort in {SORT_MODEL, *slugs} else SORT_AVERAGE
    board = Leaderboard(columns, rows, sort, descending, suite, suites, lineage)
    _sort_rows(board)
    return board


@dataclass(frozen=True)
class BenchmarkCorrelations:
    """Pearson correlation of each pair of the board's benchmarks across the models that have both."""

    titles: list[str]
    pearson: list[list[float | None]]
    n: list[list[int]]


def benchmark_correlations(board: Leaderboard) -> BenchmarkCorrelations:
    """From the board's cells (no query); a pair with fewer than three models in common has no value."""
    import numpy as np

    matrix = np.array([[np.nan if cell is None else cell.value for cell in row.cells] for row in board.rows],
                      dtype=float).reshape(len(board.rows), len(board.columns))
    kept = [index for index in range(len(board.columns)) if (~np.isnan(matrix[:, index])).sum() >= 3]
    r, n = statistics.pearson_pairwise(matrix[:, kept])
    pearson = [[None if np.isnan(value) else round(float(value), 4) for value in line] for line in r]
    return BenchmarkCorrelations([board.columns[index].title for index in kept], pearson, n.tolist())


def model_radar_axes(detail: ModelDetail) -> list[tuple[str, float | None]]:
    """The model's latest baseline-normalised primary scores by category, or by benchmark below three categories."""
    primaries = [(entry, next((score for score in entry.metrics if score.is_primary), None)) for entry in detail.scores]
    primaries = [(entry, score) for entry, score in primaries if score is not None and score.normalized is not None]
    by_category: dict[str, list[float]] = {}
    for _, score in primaries:
        by_category.setdefault(score.benchmark.category, []).append(score.normalized)
    if len(by_category) >= 3:
        return [(category, fmean(values)) for category, values in sorted(by_category.items())]
    return [(entry.title, score.normalized) for entry, score in primaries]


def _chosen_suite(suites: list[Suite], suite_id: int | str | None) -> Suite | None:
    """The asked-for version, else the first (default-ordered) one; all of them have public results."""
    by_id = {str(suite.pk): suite for suite in suites}
    if suite_id is not None and str(suite_id) in by_id:
        return by_id[str(suite_id)]
    return suites[0] if suites else None


def _cell(row: dict) -> Cell:
    return Cell(row["value"], row["stderr"], row["n"], row["run_id"], row["normalized"], row["normalized_stderr"],
                row["scale_max"], row["regressed"])


def _row(model: ModelEntry, cells: list[Cell | None]) -> LeaderboardRow:
    """The average of baseline-normalised scores; its standard error treats benchmarks as independent."""
    present = [cell for cell in cells if cell is not None and cell.normalized is not None]
    if not present:
        return LeaderboardRow(model, cells, None, None, 0)
    average = fmean(cell.normalized for cell in present)  # type: ignore[misc]
    errors = [cell.normalized_stderr for cell in present]
    stderr = math.sqrt(sum(e * e for e in errors)) / len(present) if all(e is not None for e in errors) else None
    return LeaderboardRow(model, cells, average, stderr, len(present))


def _sort_rows(board: Leaderboard) -> None:
    if board.sort == SORT_MODEL:
        board.rows.sort(key=lambda row: row.model.name.lower(), reverse=board.descending)
        return
    index = next((i for i, column in enumerate(board.columns) if column.slug == board.sort), None)

    def value(row: LeaderboardRow) -> float | None:
        if index is None:
            return row.average
        cell = row.cells[index]
        return cell.value if cell else None

    # Rows are already in name order and sorts are stable: ties stay alphabetical.
    present = [row for row in board.rows if value(row) is not None]
    missing = [row for row in board.rows if value(row) is None]
    present.sort(key=value, reverse=board.descending)  # type: ignore[arg-type]
    board.rows = present + missing  # models without the value go last in both directions


def _latest_primary_scores(**filters) -> QuerySet[Score]:
    """The primary score of each (model, benchmark) from the most recent finished run that has it."""
    recency = Window(
        RowNumber(),
        partition_by=[F("run__model_id"), F("benchmark__slug")],
        order_by=[F("run__finished_at").desc(nulls_last=True), F("run__created_at").desc(), F("run_id").desc()],
    )
    return (
        Score.objects.filter(real_runs("run__"), is_primary=True, run__status=RunStatus.FINISHED, **filters)
        .annotate(recency=recency)
        .filter(recency=1)
    )


def top_level_slugs(slugs: Iterable[str], members_of: dict[str, list[str]]) -> list[str]:
    """Benchmarks by name, leaving out members of a group that is present (`members_of`: group → members)."""
    present = set(slugs)
    grouped = {member for group, members in members_of.items() if group in present for member in members}
    return sorted(present - grouped)


def _benchmark_titles(slugs: Iterable[str]) -> dict[str, str]:
    return {slug: title or slug for slug, title in Benchmark.objects.filter(slug__in=list(slugs))
            .order_by("slug", "created_at").values_list("slug", "title")}


def _group_scores(scores: Iterable[Score], titles: dict[str, str]) -> list[BenchmarkScores]:
    """Score rows (ordered by slug, metric) as one entry per top-level benchmark, group members nested."""
    by_slug: dict[str, BenchmarkScores] = {}
    members_of: dict[str, list[str]] = {}
    for score in scores:
        slug = score.benchmark.slug
        entry = by_slug.setdefault(slug, BenchmarkScores(slug, titles.get(slug, slug), score.run_id, []))
        entry.metrics.append(score)
        if score.benchmark.is_group:
            members_of[slug] = score.benchmark.task_spec.get("members", [])
    for entry in by_slug.values():
        entry.metrics.sort(key=lambda score: (not score.is_primary, score.metric))
    top = top_level_slugs(by_slug, members_of)
    for slug in top:
        if slug in members_of:
            by_slug[slug].members = [by_slug[m] for m in sorted(members_of[slug]) if m in by_slug]
    return [by_slug[slug] for slug in top]


# -- models and runs -----------------------------------------------------------------------------
def model_list(user: AbstractBaseUser | AnonymousUser | None) -> QuerySet[ModelEntry]:
    """Models with the counts of the runs this user may see (a private run is not even counted)."""
    seen = Q(runs__in=visible_runs(user))
    finished = seen & Q(runs__status=RunStatus.FINISHED)
    # Meta.ordering is ignored in GROUP BY queries, so order explicitly.
    return ModelEntry.objects.annotate(
        run_count=Count("runs", filter=seen, distinct=True),
        finished_count=Count("runs", filter=finished, distinct=True),
    ).order_by("name")


def model_detail(slug: str, user: AbstractBaseUser | AnonymousUser | None) -> ModelDetail | None:
    """A model's runs over time (every one kept) and the latest score of each benchmark configuration."""
    model = ModelEntry.objects.select_related("base_model").filter(slug=slug).first()
    if model is None:
        return None
    runs = list(visible_runs(user).filter(model=model).select_related("suite").order_by("-created_at", "-pk"))
    latest = list(_latest_primary_scores(run__model=model, run__in=visible_runs(user))
                  .values_list("benchmark__slug", "run_id"))
    pairs = [Q(run_id=run_id, benchmark__slug=slug) for slug, run_id in latest]
    scores = list(Score.objects.filter(reduce(or_, pairs)).select_related("benchmark")) if pairs else []
    watch = (RegressionWatch.objects.filter(user=user, model=model).first()
             if user is not None and user.is_authenticated else None)
    regressions = model_regressions(model=model, user=user)
    return ModelDetail(model, runs, _group_scores(scores, _benchmark_titles(slug for slug, _ in latest)),
                       model_history(model=model, user=user, regressions=regressions), regressions, watch)


def run_list(user: AbstractBaseUser | AnonymousUser | None) -> QuerySet[Run]:
    return visible_runs(user).select_related("model").order_by("-created_at", "-pk")


def run_detail(run_id: int, user: AbstractBaseUser | AnonymousUser | None) -> RunDetail | None:
    """None for a run that does not exist or that this user may not see: both are a 404."""
    run = visible_runs(user).select_related("model", "created_by", "suite").filter(pk=run_id).first()
    if run is None:
        return None
    benchmarks = list(run.benchmarks.order_by("slug").values_list("slug", "title", "is_group"))
    titles = {slug: title or slug for slug, title, _ in benchmarks}
    scores = _group_scores(
        Score.objects.filter(run=run).select_related("benchmark").order_by("benchmark__slug", "metric"), titles
    )
    sample_benchmarks = [(slug, titles[slug]) for slug, _, is_group in benchmarks if not is_group]
    record = RunPerformanceRecord.from_dict(run.performance)
    return RunDetail(run, scores, sample_benchmarks, run_performance_detail(record))


def sample_page(run: Run, benchmark_slug: str | None, correct: bool | None, page: int | str | None) -> Page:
    """One page of the run's samples; a missing, malformed or out-of-range page number gives a valid page."""
    samples = run_samples(run=run, benchmark_slug=benchmark_slug, correct=correct)
    return Paginator(samples, settings.BENCHSITE_SAMPLE_PAGE_SIZE).get_page(page)


# -- live progress -------------------------------------------------------------------------------
def visible_run(run_id: int, user: AbstractBaseUser | AnonymousUser | None) -> Run | None:
    """Just what deciding who may watch a run's progress needs; None when this user may not."""
    return visible_runs(user).only("is_private", "created_by_id").filter(pk=run_id).first()


def run_progress(run: Run) -> RunProgress | None:
    """An unfinished run's live progress for its page (its visibility was checked when it was read)."""
    if run.is_final:
        return None
    return progress_snapshot(run_id=run.pk)


def live_runs() -> QuerySet[Run]:
    return Run.objects.filter(status__in=ACTIVE_STATUSES, is_private=False).select_related("model").order_by(
        "-created_at", "-pk"
    )


def live_run_rows() -> list[tuple[Run, RunProgress]]:
    return [(run, RunProgress.of_run(run)) for run in live_runs()]


def live_run(run_id: int) -> Run | None:
    """A public run, in any status, for a row of the live runs table (it may have started after the page)."""
    return Run.objects.select_related("model").filter(pk=run_id, is_private=False).first()


@dataclass(frozen=True)
class WorkerRow:
    worker: WorkerRecord
    is_up: bool


def worker_rows() -> list[WorkerRow]:
    """Workers are up while they have not stopped and have sent a heartbeat within three intervals."""
    cutoff = worker_silence_cutoff()
    return [
        WorkerRow(worker, worker.stopped_at is None and worker.heartbeat_at >= cutoff)
        for worker in WorkerRecord.objects.order_by("hostname")
    ]
