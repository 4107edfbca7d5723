"""Reads shaped for the leaderboard pages: the models × benchmarks table, model and run pages, samples."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from statistics import fmean

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from evaluations.models import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    Benchmark,
    ModelEntry,
    Run,
    RunStatus,
    Score,
    WorkerRecord,
)
from evaluations.progress import progress_snapshot
from evaluations.selectors import run_samples
from leaderboard.performance import RunPerformanceDetail, run_performance_detail
from runner.catalog import DEFAULT_SUITE, GROUPS

SORT_AVERAGE = "average"
SORT_MODEL = "model"
# Below this many items a score most likely comes from a --limit run: a subset, with wide error bars.
SUBSET_ITEMS = 100


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

    @property
    def is_subset(self) -> bool:
        return self.n < SUBSET_ITEMS


@dataclass
class LeaderboardRow:
    model: ModelEntry
    cells: list[Cell | None]  # aligned with Leaderboard.columns
    average: float | None
    covered: int  # how many columns the average is taken over


@dataclass
class Leaderboard:
    columns: list[Column]
    rows: list[LeaderboardRow]
    sort: str
    descending: bool


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


@dataclass
class RunDetail:
    run: Run
    scores: list[BenchmarkScores]
    sample_benchmarks: list[tuple[str, str]]  # (slug, title) of the run's non-group benchmarks
    performance: RunPerformanceDetail | None = None


# -- leaderboard ---------------------------------------------------------------------------------
def leaderboard_rows(*, sort: str | None = None, descending: bool = True) -> Leaderboard:
    """Every model with a finished run against the latest primary score of each benchmark column.

    Three queries whatever the number of models and runs: latest primary scores, models, titles.
    """
    latest = list(_latest_primary_scores().values("run__model_id", "benchmark_slug", "metric", "value",
                                                   "stderr", "n", "run_id"))
    slugs = top_level_slugs({row["benchmark_slug"] for row in latest})
    metrics = {row["benchmark_slug"]: row["metric"] for row in latest}
    titles = _benchmark_titles(slugs)
    columns = [Column(slug, titles.get(slug, slug), metrics[slug]) for slug in slugs]
    cells: dict[tuple[int, str], Cell] = {
        (row["run__model_id"], row["benchmark_slug"]): Cell(row["value"], row["stderr"], row["n"], row["run_id"])
        for row in latest
    }
    models = ModelEntry.objects.filter(runs__status=RunStatus.FINISHED).distinct().order_by("name")
    rows = [_row(model, [cells.get((model.pk, slug)) for slug in slugs]) for model in models]
    sort = sort if sort in {SORT_MODEL, *slugs} else SORT_AVERAGE
    board = Leaderboard(columns, rows, sort, descending)
    _sort_rows(board)
    return board


def _row(model: ModelEntry, cells: list[Cell | None]) -> LeaderboardRow:
    values = [cell.value for cell in cells if cell is not None]
    return LeaderboardRow(model, cells, fmean(values) if values else None, len(values))


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
        partition_by=[F("run__model_id"), F("benchmark_slug")],
        order_by=[F("run__finished_at").desc(nulls_last=True), F("run__created_at").desc(), F("run_id").desc()],
    )
    return (
        Score.objects.filter(is_primary=True, run__status=RunStatus.FINISHED, **filters)
        .annotate(recency=recency)
        .filter(recency=1)
    )


def top_level_slugs(slugs: Iterable[str]) -> list[str]:
    """The default suite's benchmarks first, then the others by name, leaving out members of a present group."""
    present = set(slugs)
    members = {member for group in GROUPS.values() if group.slug in present for member in group.members}
    top = present - members
    return [slug for slug in DEFAULT_SUITE if slug in top] + sorted(top - set(DEFAULT_SUITE))


def _benchmark_titles(slugs: Iterable[str]) -> dict[str, str]:
    return {slug: title or slug for slug, title in Benchmark.objects.filter(slug__in=list(slugs))
            .order_by("slug", "created_at").values_list("slug", "title")}


def _group_scores(scores: Iterable[Score], titles: dict[str, str]) -> list[BenchmarkScores]:
    """Score rows (ordered by slug, metric) as one entry per top-level benchmark, group members nested."""
    by_slug: dict[str, BenchmarkScores] = {}
    for score in scores:
        slug = score.benchmark_slug
        entry = by_slug.setdefault(slug, BenchmarkScores(slug, titles.get(slug, slug), score.run_id, []))
        entry.metrics.append(score)
    for entry in by_slug.values():
        entry.metrics.sort(key=lambda score: (not score.is_primary, score.metric))
    top = top_level_slugs(by_slug)
    for slug in top:
        if slug in GROUPS:
            by_slug[slug].members = [by_slug[m] for m in sorted(GROUPS[slug].members) if m in by_slug]
    return [by_slug[slug] for slug in top]


# -- models and runs -----------------------------------------------------------------------------
def model_list() -> QuerySet[ModelEntry]:
    finished = Q(runs__status=RunStatus.FINISHED)
    # Meta.ordering is ignored in GROUP BY queries, so order explicitly.
    return ModelEntry.objects.annotate(
        run_count=Count("runs"), finished_count=Count("runs", filter=finished)
    ).order_by("name")


def model_detail(slug: str) -> ModelDetail | None:
    model = ModelEntry.objects.select_related("base_model").filter(slug=slug).first()
    if model is None:
        return None
    runs = list(model.runs.order_by("-created_at"))
    latest = list(_latest_primary_scores(run__model=model).values_list("benchmark_slug", "run_id"))
    pairs = [Q(run_id=run_id, benchmark_slug=slug) for slug, run_id in latest]
    scores = list(Score.objects.filter(reduce(or_, pairs))) if pairs else []
    return ModelDetail(model, runs, _group_scores(scores, _benchmark_titles(slug for slug, _ in latest)))


def run_list() -> QuerySet[Run]:
    return Run.objects.select_related("model").order_by("-created_at", "-pk")


def run_detail(run_id: int) -> RunDetail | None:
    run = Run.objects.select_related("model", "created_by").filter(pk=run_id).first()
    if run is None:
        return None
    benchmarks = list(run.benchmarks.order_by("slug").values_list("slug", "title", "is_group"))
    titles = {slug: title or slug for slug, title, _ in benchmarks}
    scores = _group_scores(Score.objects.filter(run=run).order_by("benchmark_slug", "metric"), titles)
    sample_benchmarks = [(slug, titles[slug]) for slug, _, is_group in benchmarks if not is_group]
    return RunDetail(run, scores, sample_benchmarks, run_performance_detail(run.performance))


def sample_page(run: Run, benchmark_slug: str | None, correct: bool | None, page: int | str | None) -> Page:
    """One page of the run's samples; a missing, malformed or out-of-range page number gives a valid page."""
    samples = run_samples(run=run, benchmark_slug=benchmark_slug, correct=correct)
    return Paginator(samples, settings.BENCHSITE_SAMPLE_PAGE_SIZE).get_page(page)


# -- live progress -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunProgress:
    """A run's progress as evaluations.progress publishes it, shaped for the progress fragments."""

    run_id: int
    status: str
    done: int
    total: int
    benchmarks: list[dict] = field(default_factory=list)  # {"slug", "done", "total"} per benchmark
    running_accuracy: float | None = None
    tokens_per_second: float | None = None
    eta_seconds: float | None = None

    @classmethod
    def from_snapshot(cls, snapshot: dict) -> RunProgress:
        # Keys the page does not show yet are ignored, so the publisher can add some without breaking it.
        return cls(**{name: snapshot[name] for name in cls.__dataclass_fields__ if name in snapshot})

    @classmethod
    def of_run(cls, run: Run) -> RunProgress:
        """The counts stored on the row alone: for lists, where a full snapshot per run would be N+1."""
        return cls(run_id=run.pk, status=run.status, done=run.done, total=run.total)

    @property
    def status_label(self) -> str:
        return RunStatus(self.status).label if self.status in RunStatus.values else self.status

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def eta(self) -> str:
        """Time left, coarse on purpose (the rate is an average since the start): "1 h 05 min", "3 min 20 s"."""
        if self.eta_seconds is None or self.is_final:
            return ""
        seconds = round(self.eta_seconds)
        hours, rest = divmod(seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        if hours:
            return f"{hours} h {minutes:02d} min"
        return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def run_progress_visible_to(run: Run, user: AbstractBaseUser | AnonymousUser | None) -> bool:
    """A private run's progress streams only to whoever started it (its page and scores stay public)."""
    if not run.is_private:
        return True
    return user is not None and user.is_authenticated and run.created_by_id == user.pk


def watched_run(run_id: int) -> Run | None:
    """Just what deciding who may watch a run's progress needs."""
    return Run.objects.only("is_private", "created_by_id").filter(pk=run_id).first()


def run_progress(run: Run, user: AbstractBaseUser | AnonymousUser | None) -> RunProgress | None:
    """An unfinished run's live progress for its page; None when there is nothing (or nothing allowed) to stream."""
    if run.is_final or not run_progress_visible_to(run, user):
        return None
    return RunProgress.from_snapshot(progress_snapshot(run_id=run.pk))


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
    silence = timedelta(seconds=3 * settings.BENCHSITE_HEARTBEAT_SECONDS)
    cutoff = timezone.now() - silence
    return [
        WorkerRow(worker, worker.stopped_at is None and worker.heartbeat_at >= cutoff)
        for worker in WorkerRecord.objects.order_by("hostname")
    ]
