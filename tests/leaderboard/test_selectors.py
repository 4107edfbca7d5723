from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from evaluations.models import RunStatus
from leaderboard import selectors
from tests.leaderboard.conftest import (
    ALPHA_AVERAGE,
    ARC_SAMPLES,
    ASTRONOMY_SAMPLES,
    BETA_AVERAGE,
    GAMMA_AVERAGE,
    Board,
    normalised,
)
from tests.leaderboard.factories import BenchmarkFactory, ModelEntryFactory, SuiteFactory, finished_run

pytestmark = pytest.mark.django_db

ANONYMOUS = AnonymousUser()


def names(board: selectors.Leaderboard) -> list[str]:
    return [row.model.name for row in board.rows]


def test_columns_follow_the_suite_order_and_leave_out_benchmarks_it_does_not_list(board: Board):
    table = selectors.leaderboard_rows()

    assert table.suite == board.suite
    # alpha's mmlu_astronomy score (a member of mmlu) is not a column: the suite lists the group only.
    assert [column.slug for column in table.columns] == ["arc_easy", "mmlu", "gsm8k"]
    assert [column.title for column in table.columns] == ["ARC-Easy", "MMLU", "GSM8K"]
    assert table.columns[2].metric == "exact_match,strict-match"


def test_each_cell_comes_from_the_latest_finished_run_that_has_the_benchmark(board: Board):
    row = next(row for row in selectors.leaderboard_rows().rows if row.model == board.alpha)
    arc, mmlu, gsm8k = row.cells

    assert (arc.value, arc.run_id) == (0.80, board.alpha_run.pk)  # not the older 0.10, not the failed 0.99
    assert (mmlu.value, mmlu.stderr, mmlu.n) == (0.50, 0.05, 100)
    assert (gsm8k.value, gsm8k.run_id) == (0.30, board.alpha_old_run.pk)
    assert arc.normalized == pytest.approx(normalised(0.80, 0.25))
    assert row.average == pytest.approx(ALPHA_AVERAGE)  # the mean of the normalised scores
    assert row.covered == 3


def test_the_average_is_baseline_normalised_with_a_standard_error(board: Board):
    rows = {row.model.name: row for row in selectors.leaderboard_rows().rows}

    assert rows["beta"].average == pytest.approx(BETA_AVERAGE)
    assert rows["gamma"].average == pytest.approx(GAMMA_AVERAGE)
    # Independent benchmarks: sqrt(sum of squared normalised errors) / count; 0.05 scaled by 1 / (1 - chance).
    errors = [0.05 / 0.75, 0.05 / 0.75, 0.05]
    assert rows["alpha"].average_stderr == pytest.approx(sum(e * e for e in errors) ** 0.5 / 3)
    assert rows["gamma"].average_stderr == pytest.approx(0.05 / 0.75)


def test_a_newer_run_under_another_configuration_does_not_replace_the_cell(board: Board):
    gamma = next(row for row in selectors.leaderboard_rows().rows if row.model == board.gamma)

    assert gamma.cells[0].value == 0.90  # not the newer 0.98 of the "subset" configuration


def test_models_without_a_finished_run_are_left_out(board: Board):
    assert names(selectors.leaderboard_rows()) == ["gamma", "beta", "alpha"]


@pytest.mark.parametrize(
    ("sort", "descending", "expected"),
    [
        (None, True, ["gamma", "beta", "alpha"]),
        ("average", False, ["alpha", "beta", "gamma"]),
        ("gsm8k", True, ["beta", "alpha", "gamma"]),  # gamma has no gsm8k score: last both ways
        ("gsm8k", False, ["alpha", "beta", "gamma"]),
        ("arc_easy", False, ["beta", "alpha", "gamma"]),
        ("model", False, ["alpha", "beta", "gamma"]),
        ("model", True, ["gamma", "beta", "alpha"]),
        ("no_such_column", True, ["gamma", "beta", "alpha"]),
    ],
)
def test_sorting(board: Board, sort, descending, expected):
    table = selectors.leaderboard_rows(sort=sort, descending=descending)

    assert names(table) == expected
    assert table.sort == (sort if sort in {"average", "model", "gsm8k", "arc_easy"} else "average")


def test_leaderboard_is_empty_without_suites_or_finished_runs(db):
    finished_run(ModelEntryFactory(), {"arc_easy": 0.5}, status=RunStatus.RUNNING)

    table = selectors.leaderboard_rows()
    assert (table.columns, table.rows, table.suite) == ([], [], None)

    SuiteFactory(order=["arc_easy"])
    table = selectors.leaderboard_rows()
    # A suite version is offered once it has a public finished result: the running run's score is not one.
    assert (table.columns, table.rows, table.suite, table.suites) == ([], [], None, [])


def test_query_count_does_not_grow_with_models_and_runs(board: Board, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    selectors.leaderboard_rows()  # builds the stored rows (leaderboard.services.board_sync)
    # Changes since the last read, suites with results, column metrics, titles, the sort keys in order, the
    # rows, confirmed flags.
    with django_assert_num_queries(7):
        selectors.leaderboard_rows()
    with django_assert_num_queries(7):  # a suite asked for: the same queries
        selectors.leaderboard_rows(suite_id=board.suite.pk)

    def rebuild_queries(models: int, offset: int) -> int:
        for index in range(offset, offset + models):
            model = ModelEntryFactory(name=f"extra-{index}")
            finished_run(model, {"arc_easy": 0.3, "hellaswag": 0.4}, days_ago=2)
            finished_run(model, {"arc_easy": 0.5, "winogrande": 0.6, "custom_qa": 0.7})
            finished_run(model, {"mmlu": 0.5}, variant="subset")
        with CaptureQueriesContext(connection) as captured:
            selectors.leaderboard_rows()
        return len(captured)

    # Rebuilding the changed models' rows costs the same few queries for one model as for seven.
    assert rebuild_queries(1, 0) == rebuild_queries(7, 1)
    with django_assert_num_queries(7):
        table = selectors.leaderboard_rows()
    assert len(table.rows) == 11
    # Benchmarks outside the suite never become columns; the suite's stay even where few models have them.
    assert [c.slug for c in table.columns] == ["arc_easy", "mmlu", "gsm8k"]
    extra = next(row for row in table.rows if row.model.name == "extra-0")
    assert [cell.value if cell else None for cell in extra.cells] == [0.5, None, None]


def test_group_members_are_top_level_when_their_group_is_absent():
    groups = {"mmlu": ["mmlu_anatomy", "mmlu_astronomy"]}

    assert selectors.top_level_slugs(["mmlu_astronomy", "zeta", "gsm8k", "arc_easy"], groups) == [
        "arc_easy", "gsm8k", "mmlu_astronomy", "zeta"
    ]
    assert selectors.top_level_slugs(["mmlu_astronomy", "mmlu"], groups) == ["mmlu"]


def test_model_detail(board: Board, django_assert_num_queries):
    # model, runs, latest primaries, their metrics with benchmarks, titles; regressions, history, suite labels
    with django_assert_num_queries(8):
        detail = selectors.model_detail("alpha", ANONYMOUS)

    assert detail is not None and detail.model == board.alpha
    assert [run.status for run in detail.runs] == [RunStatus.FAILED, RunStatus.FINISHED, RunStatus.FINISHED]
    assert detail.runs[1:] == [board.alpha_run, board.alpha_old_run]  # every run kept, newest first
    arc, gsm8k, mmlu = detail.scores  # by slug, whatever the configuration
    assert [(score.metric, score.value) for score in arc.metrics] == [("acc_norm", 0.80), ("acc", 0.75)]
    assert arc.run_id == board.alpha_run.pk and gsm8k.run_id == board.alpha_old_run.pk
    assert [member.slug for member in mmlu.members] == ["mmlu_astronomy"]


def test_model_detail_of_unknown_model_is_none(db):
    assert selectors.model_detail("nope", ANONYMOUS) is None


def test_run_detail_groups_scores_and_lists_sample_benchmarks(board: Board):
    detail = selectors.run_detail(board.alpha_run.pk, ANONYMOUS)

    assert detail is not None
    assert [entry.slug for entry in detail.scores] == ["arc_easy", "mmlu"]
    assert detail.scores[1].members[0].metrics[0].value == 0.40
    assert detail.sample_benchmarks == [("arc_easy", "ARC-Easy"), ("mmlu_astronomy", "MMLU: astronomy")]
    assert selectors.run_detail(10**6, ANONYMOUS) is None


@pytest.mark.parametrize(
    ("benchmark", "correct", "count"),
    [
        (None, None, ARC_SAMPLES + ASTRONOMY_SAMPLES),
        (None, True, ARC_SAMPLES // 2),
        (None, False, ARC_SAMPLES // 2 + ASTRONOMY_SAMPLES),
        ("mmlu_astronomy", None, ASTRONOMY_SAMPLES),
        ("mmlu_astronomy", True, 0),
    ],
)
def test_sample_page_filters(board: Board, benchmark, correct, count):
    page = selectors.sample_page(board.alpha_run, benchmark, correct, 1)

    assert page.paginator.count == count
    assert all(correct is None or sample.correct is correct for sample in page)


@pytest.mark.parametrize(("requested", "number"), [(1, 1), ("2", 2), ("abc", 1), (None, 1), (99, 2), (-1, 2)])
def test_sample_page_numbers_are_forgiving(board: Board, requested, number):
    page = selectors.sample_page(board.alpha_run, None, None, requested)

    assert page.number == number
    assert len(page) == (50 if number == 1 else ARC_SAMPLES + ASTRONOMY_SAMPLES - 50)
