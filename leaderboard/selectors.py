"""Reads shaped for the leaderboard pages: the models × benchmarks table, model and run pages, samples."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from statistics import fmean

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Q, QuerySet, Window
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
from evaluations.history import HistorySeries, model_history, model_regressions
from evaluations.progress import RunProgress, progress_snapshot
from evaluations.run_performance import RunPerformanceRecord
from evaluations.selectors import real_runs, run_samples, visible_runs, worker_silence_cutoff
from leaderboard.models import BoardCell, BoardRow, BoardSummary
from leaderboard.performance import RunPerformanceDetail, run_performance_detail
from leaderboard.services import board_sync, correlations_of

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
    page: Page | None = None  # when asked for a page: its rows are `rows`


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

    Read from the stored board (leaderboard.models), brought up to date first.
    """
    board_sync()
    counted = "board_summary__all_models" if settings.BENCHSITE_SHOW_SYNTHETIC else "board_summary__real_models"
    suites = Suite.objects.filter(**{f"{counted}__gt": 0}).order_by("slug", F("created_at").desc(nulls_last=True),
                                                                    "-pk")
    rank = {slug: index for index, slug in enumerate(DEFAULT_SUITE_ORDER)}
    return sorted(suites, key=lambda suite: rank.get(suite.slug, len(rank)))


def leaderboard_rows(*, suite_id: int | str | None = None, sort: str | None = None, descending: bool = True,
                     lineage: str | None = None, page: int | str | None = None,
                     page_size: int | None = None) -> Leaderboard:
    """Models × the chosen suite version's benchmarks, from public finished runs whose configuration matches.

    A cell is the latest primary score whose configuration key equals the suite's for that benchmark, so
    runs on other items, few-shot counts or prompt versions never mix in. The rows are stored per suite
    version (leaderboard.services), sorted and paginated by the database: the same few queries at any size.
    With `page_size`, `rows` holds that page and `page` the paginator's page; without, every row.
    """
    suites = suite_choices()
    suite = _chosen_suite(suites, suite_id)
    if suite is None:
        return Leaderboard([], [], SORT_AVERAGE, descending, None, suites)
    slugs = [slug for slug in (suite.order or sorted(suite.entries)) if slug in suite.entries]
    metrics = BoardSummary.objects.filter(suite=suite).values_list("metrics", flat=True).first() or {}
    titles = _benchmark_titles(slugs)
    columns = [Column(slug, titles.get(slug, slug), metrics.get(slug, "")) for slug in slugs]
    lineage = lineage if lineage in LINEAGE_FILTERS else ""
    sort = sort if sort in {SORT_MODEL, *slugs} else SORT_AVERAGE
    keys = _board_order(suite, sort, descending, lineage)
    board = Leaderboard(columns, [], sort, descending, suite, suites, lineage)
    if page_size is None:
        board.rows = _board_rows(list(keys.values_list("row_id", flat=True)), slugs)
    else:
        board.page = Paginator(keys.values_list("row_id", flat=True), page_size).get_page(page)
        board.rows = board.page.object_list = _board_rows(list(board.page.object_list), slugs)
    return board


def _board_query(suite: Suite, lineage: str) -> QuerySet[BoardRow]:
    rows = BoardRow.objects.filter(suite=suite)
    if not settings.BENCHSITE_SHOW_SYNTHETIC:
        rows = rows.filter(model__is_synthetic=False)
    if lineage:  # base models have no base; everything derived (fine-tune, merge, adapter, quantization) has one
        rows = rows.filter(model__base_model__isnull=lineage == LINEAGE_BASE)
    return rows


def _board_order(suite: Suite, sort: str, descending: bool, lineage: str) -> QuerySet[BoardCell]:
    """The rows' sort cells in page order, an index scan (BoardCell's two indexes, or one read backwards).

    Models without the sorted value go last in both directions; ties stay alphabetical.
    """
    key = {SORT_MODEL: BoardCell.NAME_KEY, SORT_AVERAGE: BoardCell.AVERAGE_KEY}.get(sort, sort)
    cells = BoardCell.objects.filter(suite=suite, key=key)
    if not settings.BENCHSITE_SHOW_SYNTHETIC:
        cells = cells.filter(is_synthetic=False)
    if lineage:
        cells = cells.filter(is_derived=lineage == LINEAGE_DERIVED)
    if sort == SORT_MODEL and descending:
        return cells.order_by("has_value", "-value", "-sort_name", "-row_id")
    return cells.order_by("-has_value", "-value" if descending else "value", "sort_name", "row_id")


def _board_rows(row_ids: list[int], slugs: list[str]) -> list[LeaderboardRow]:
    """Stored rows in the given order as the page shows them; confirmed flags (community.ModelFlag) counted
    in one query."""
    stored = BoardRow.objects.select_related("model").in_bulk(row_ids)
    flags = dict(ModelEntry.every.filter(pk__in=[row.model_id for row in stored.values()])
                 .annotate(confirmed=Count("flags", filter=Q(flags__state="confirmed")))
                 .values_list("pk", "confirmed")) if stored else {}
    rows = []
    for row in (stored[pk] for pk in row_ids):
        row.model.confirmed_flags = flags.get(row.model_id, 0)
        cells = [_cell(row.cells[slug]) if slug in row.cells else None for slug in slugs]
        rows.append(LeaderboardRow(row.model, cells, row.average, row.average_stderr, row.covered))
    return rows


@dataclass(frozen=True)
class BenchmarkCorrelations:
    """Pearson correlation of each pair of the board's benchmarks across the models that have both."""

    titles: list[str]
    pearson: list[list[float | None]]
    n: list[list[int]]


def benchmark_correlations(board: Leaderboard) -> BenchmarkCorrelations:
    """Across every model of the board (not only the page): stored with the board, recomputed when filtered.

    A pair with fewer than three models in common has no value.
    """
    if board.suite is None:
        return BenchmarkCorrelations([], [], [])
    if board.lineage:
        values = list(_board_query(board.suite, board.lineage).values_list("values", flat=True))
        stored = correlations_of(values)
    else:
        field_name = "correlations_all" if settings.BENCHSITE_SHOW_SYNTHETIC else "correlations"
        stored = BoardSummary.objects.filter(suite=board.suite).values_list(field_name, flat=True).first() or {}
    titles = [board.columns[index].title for index in stored.get("columns", [])]
    return BenchmarkCorrelations(titles, stored.get("pearson", []), stored.get("n", []))


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


def _cell(stored: dict) -> Cell:
    return Cell(stored["value"], stored["stderr"], stored["n"], stored["run_id"], stored["normalized"],
                stored["normalized_stderr"], stored["scale_max"], stored["regressed"])


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
