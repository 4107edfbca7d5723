from __future__ import annotations

import pytest

from evaluations.models import RunStatus
from leaderboard import selectors
from tests.leaderboard.conftest import ARC_SAMPLES, ASTRONOMY_SAMPLES, Board
from tests.leaderboard.factories import ModelEntryFactory, finished_run

pytestmark = pytest.mark.django_db


def names(board: selectors.Leaderboard) -> list[str]:
    return [row.model.name for row in board.rows]


def test_columns_follow_the_default_suite_and_hide_members_of_a_present_group(board: Board):
    table = selectors.leaderboard_rows()

    assert [column.slug for column in table.columns] == ["arc_easy", "mmlu", "gsm8k"]
    assert [column.title for column in table.columns] == ["ARC-Easy", "MMLU", "GSM8K"]
    assert table.columns[2].metric == "exact_match,strict-match"


def test_each_cell_comes_from_the_latest_finished_run_that_has_the_benchmark(board: Board):
    row = next(row for row in selectors.leaderboard_rows().rows if row.model == board.alpha)
    arc, mmlu, gsm8k = row.cells

    assert (arc.value, arc.run_id) == (0.80, board.alpha_run.pk)  # not the older 0.10, not the failed 0.99
    assert (mmlu.value, mmlu.stderr, mmlu.n) == (0.50, 0.05, 100)
    assert (gsm8k.value, gsm8k.run_id) == (0.30, board.alpha_old_run.pk)
    assert row.average == pytest.approx((0.80 + 0.50 + 0.30) / 3)
    assert row.covered == 3


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


def test_leaderboard_is_empty_without_finished_runs(db):
    finished_run(ModelEntryFactory(), {"arc_easy": 0.5}, status=RunStatus.RUNNING)

    table = selectors.leaderboard_rows()

    assert (table.columns, table.rows) == ([], [])


def test_query_count_does_not_grow_with_models_and_runs(board: Board, django_assert_num_queries):
    with django_assert_num_queries(3):
        selectors.leaderboard_rows()

    for index in range(8):
        model = ModelEntryFactory(name=f"extra-{index}")
        finished_run(model, {"arc_easy": 0.3, "hellaswag": 0.4}, days_ago=2)
        finished_run(model, {"arc_easy": 0.5, "winogrande": 0.6, "custom_qa": 0.7})

    with django_assert_num_queries(3):
        table = selectors.leaderboard_rows()
    assert len(table.rows) == 11
    assert [c.slug for c in table.columns] == ["arc_easy", "hellaswag", "mmlu", "winogrande", "gsm8k", "custom_qa"]


def test_group_members_are_columns_when_their_group_is_absent():
    assert selectors.top_level_slugs(["mmlu_astronomy", "zeta", "gsm8k", "arc_easy"]) == [
        "arc_easy", "gsm8k", "mmlu_astronomy", "zeta"
    ]
    assert selectors.top_level_slugs(["mmlu_astronomy", "mmlu"]) == ["mmlu"]


def test_model_detail(board: Board, django_assert_num_queries):
    with django_assert_num_queries(5):  # model, runs, latest primaries, their metrics, titles
        detail = selectors.model_detail("alpha")

    assert detail is not None and detail.model == board.alpha
    assert [run.status for run in detail.runs] == [RunStatus.FAILED, RunStatus.FINISHED, RunStatus.FINISHED]
    arc, mmlu, gsm8k = detail.scores
    assert [(score.metric, score.value) for score in arc.metrics] == [("acc_norm", 0.80), ("acc", 0.75)]
    assert arc.run_id == board.alpha_run.pk and gsm8k.run_id == board.alpha_old_run.pk
    assert [member.slug for member in mmlu.members] == ["mmlu_astronomy"]


def test_model_detail_of_unknown_model_is_none(db):
    assert selectors.model_detail("nope") is None


def test_run_detail_groups_scores_and_lists_sample_benchmarks(board: Board):
    detail = selectors.run_detail(board.alpha_run.pk)

    assert detail is not None
    assert [entry.slug for entry in detail.scores] == ["arc_easy", "mmlu"]
    assert detail.scores[1].members[0].metrics[0].value == 0.40
    assert detail.sample_benchmarks == [("arc_easy", "ARC-Easy"), ("mmlu_astronomy", "MMLU: astronomy")]
    assert selectors.run_detail(10**6) is None


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
