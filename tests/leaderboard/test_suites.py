"""Suite versions on the leaderboard: one configuration per board, the baseline-normalised average, the cost.

The first tests produce runs through the real services (plan, create, execute, score, pin a suite) with the
test suite's fake backend, so the configuration keys are the ones the product computes; the others build
Score rows with factories.
"""
from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from evaluations.models import Run, RunStatus, Score, Suite
from evaluations.services import benchmarks, model_entries, plans, runs, shards
from leaderboard import selectors
from tests.leaderboard.factories import (
    BenchmarkFactory,
    ModelEntryFactory,
    SuiteFactory,
    finished_run,
)

pytestmark = pytest.mark.django_db


def model_order(html: str) -> list[str]:
    return re.findall(r'<tr data-model="([^"]+)"', html)


def cell_run_ids(html: str) -> list[int]:
    """The runs the board's cells link to."""
    table = html[html.index('<table class="leaderboard">'):]
    return [int(run_id) for run_id in re.findall(r'<a href="/runs/(\d+)/">', table)]


def text(html: str) -> str:
    """The page's words without tags, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# -- the leaderboard never mixes configurations ----------------------------------------------------
@pytest.fixture
def two_configurations(settings):
    """One model evaluated on arc_easy's first 4 and first 6 items, each pinned as a "demo" suite version,
    then on its first 5 items, which no suite pins."""
    settings.BENCHSITE_RUN_PROBE_REQUESTS = 0
    model = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")

    def evaluated(limit: int, *, pin: bool) -> tuple[Run, Suite | None]:
        plan = plans.run_plan(model=model, backend="fake", benchmarks=["arc_easy"], limit=limit)
        suite = benchmarks.suite_pin(slug="demo", plan=plan) if pin else None
        run = shards.run_execute(run=runs.run_create(plan=plan, suite=suite), plan=plan)
        assert run.status == RunStatus.FINISHED
        return run, suite

    four, four_suite = evaluated(4, pin=True)
    six, six_suite = evaluated(6, pin=True)
    five, _ = evaluated(5, pin=False)
    return model, (four, four_suite), (six, six_suite), five


def test_each_suite_version_shows_only_the_run_with_its_configuration(two_configurations):
    model, (four, four_suite), (six, six_suite), five = two_configurations
    keys = {run.pk: run.scores.get(is_primary=True).config_key for run in (four, six, five)}

    assert len(set(keys.values())) == 3  # other items: another configuration every time
    assert four_suite.pk != six_suite.pk and four_suite.slug == six_suite.slug == "demo"
    assert four_suite.version != six_suite.version
    assert four_suite.entries == {"arc_easy": keys[four.pk]} and six_suite.entries == {"arc_easy": keys[six.pk]}
    for suite, run, items in ((four_suite, four, 4), (six_suite, six, 6)):
        board = selectors.leaderboard_rows(suite_id=suite.pk)
        assert board.suite == suite and [column.slug for column in board.columns] == ["arc_easy"]
        (row,) = board.rows  # exactly one row and one cell per suite version
        (cell,) = row.cells
        assert row.model == model
        assert (cell.run_id, cell.n) == (run.pk, items)
        score = run.scores.get(is_primary=True)
        assert (cell.value, cell.normalized) == (score.value, score.normalized)
        assert row.average == pytest.approx(score.normalized)


def test_a_run_that_matches_no_suite_is_on_no_board_but_on_the_model_page(client: Client, two_configurations):
    model, (four, four_suite), (six, six_suite), five = two_configurations

    boards = [selectors.leaderboard_rows(suite_id=suite.pk) for suite in selectors.suite_choices()]
    shown = {cell.run_id for board in boards for row in board.rows for cell in row.cells if cell}
    assert shown == {four.pk, six.pk}

    detail = selectors.model_detail(model.slug, None)
    assert [run.pk for run in detail.runs] == [five.pk, six.pk, four.pk]  # every run, newest first
    (arc,) = detail.scores
    assert arc.run_id == five.pk  # the model page's latest score, whatever its configuration
    html = client.get(reverse("leaderboard:model_detail", args=[model.slug])).content.decode()
    for run in (four, six, five):
        assert f'data-run="{run.pk}"' in html
    assert "fake · custom options · first 5" in html and "fake · custom options · first 4" in html


def test_the_page_shows_the_suite_asked_for_and_the_newest_version_by_default(client: Client, two_configurations):
    _, (four, four_suite), (six, six_suite), five = two_configurations
    url = reverse("leaderboard:index")

    default = client.get(url).content.decode()
    older = client.get(url, {"suite": four_suite.pk}).content.decode()
    fragment = client.get(url, {"suite": four_suite.pk, "sort": "arc_easy"}, HTTP_HX_REQUEST="true").content.decode()

    assert cell_run_ids(default) == [six.pk]
    assert cell_run_ids(older) == [four.pk] and cell_run_ids(fragment) == [four.pk]
    assert f'<option value="{four_suite.pk}" selected>' in older
    assert f'value="{six_suite.pk}" selected' not in older
    for html in (default, older):
        assert f'<option value="{four_suite.pk}"' in html and f'<option value="{six_suite.pk}"' in html
    assert "<html" not in fragment and f"?suite={four_suite.pk}&amp;sort=" in fragment


def test_an_unknown_suite_falls_back_to_the_default(client: Client, two_configurations):
    _, _, (six, _), _ = two_configurations

    for bogus in ("999999", "abc", ""):
        assert cell_run_ids(client.get(reverse("leaderboard:index"), {"suite": bogus}).content.decode()) == [six.pk]


# -- the normalised average ----------------------------------------------------------------------
@pytest.fixture
def mixed_scales(db) -> Suite:
    """arc_easy (4-way multiple choice: chance 0.25, best 1) and an MT-Bench-like grade from 1 to 10."""
    BenchmarkFactory(slug="arc_easy", title="ARC-Easy", primary_metric="acc_norm")
    BenchmarkFactory(slug="mt_bench", title="MT-Bench", primary_metric="score")
    suite = SuiteFactory(slug="standard", order=["arc_easy", "mt_bench"])
    finished_run(ModelEntryFactory(name="guesser"), {"arc_easy": 0.25, "mt_bench": 7.5})
    finished_run(ModelEntryFactory(name="perfect"), {"arc_easy": 1.0})
    finished_run(ModelEntryFactory(name="worse-than-chance"), {"arc_easy": 0.20})
    return suite


def test_chance_normalises_to_zero_perfect_to_one_and_below_chance_is_floored(mixed_scales: Suite):
    scores = {score.run.model.name: score for score in Score.objects.filter(benchmark__slug="arc_easy")}

    assert scores["guesser"].baseline == 0.25
    assert scores["guesser"].normalized == 0.0
    assert scores["perfect"].normalized == 1.0
    assert scores["worse-than-chance"].normalized == 0.0  # floored, as the Open LLM Leaderboard does
    rows = {row.model.name: row for row in selectors.leaderboard_rows().rows}
    assert rows["perfect"].average == 1.0 and rows["perfect"].covered == 1
    assert rows["worse-than-chance"].average == 0.0


def test_a_one_to_ten_score_is_normalised_on_its_own_scale(mixed_scales: Suite):
    guesser = next(row for row in selectors.leaderboard_rows().rows if row.model.name == "guesser")
    arc, mt_bench = guesser.cells

    assert arc.is_fraction and not mt_bench.is_fraction
    assert (mt_bench.value, mt_bench.scale_max) == (7.5, 10.0)
    assert mt_bench.normalized == pytest.approx((7.5 - 1) / (10 - 1))
    assert guesser.average == pytest.approx((0.0 + 6.5 / 9) / 2)  # not (0.25 + 7.5) / 2
    assert guesser.average_stderr == pytest.approx(((0.05 / 0.75) ** 2 + (0.05 / 9) ** 2) ** 0.5 / 2)


def test_the_board_shows_a_one_to_ten_score_on_its_scale_and_fractions_in_percent(client: Client, mixed_scales):
    html = client.get(reverse("leaderboard:index")).content.decode()
    words = text(html)

    assert model_order(html) == ["perfect", "guesser", "worse-than-chance"]
    assert "7.50 / 10" in words and "± 0.05" in words  # the grade and its stderr on the 1-10 scale
    assert "750.0" not in words  # never multiplied by 100
    assert "25.0 ± 5.0" in words and "100.0 ± 5.0" in words  # arc_easy in percent
    assert f"{(6.5 / 9) / 2 * 100:.1f}" in words  # the guesser's normalised average, 36.1


def test_model_and_run_pages_show_a_one_to_ten_score_on_its_scale(client: Client, mixed_scales):
    run = Run.objects.get(model__name="guesser")

    for url in (reverse("leaderboard:model_detail", args=["guesser"]), reverse("leaderboard:run_detail", args=[run.pk])):
        words = text(client.get(url).content.decode())
        assert "7.50 / 10" in words and "750.00" not in words
        assert "25.00" in words  # arc_easy still in percent


# -- cost ----------------------------------------------------------------------------------------
BOARD_PAGE_QUERIES = 9


def test_the_board_query_count_is_constant_with_more_models(client: Client, mixed_scales, django_assert_num_queries):
    other = SuiteFactory(slug="demo", order=["arc_easy"], variant="demo")
    url = reverse("leaderboard:index")

    def add_models(prefix: str, count: int) -> None:
        for index in range(count):
            model = ModelEntryFactory(name=f"{prefix}-{index}")
            finished_run(model, {"arc_easy": 0.3, "mt_bench": 5.0}, days_ago=2)
            finished_run(model, {"arc_easy": 0.5}, days_ago=1)
            finished_run(model, {"arc_easy": 0.7}, variant="demo")

    add_models("few", 1)
    client.get(url)  # the first read after a change rebuilds the changed models' stored rows
    # Changes since the last read, suites with results, column metrics, titles, row count, the page's sort
    # keys, its rows, their confirmed flags, the stored correlations.
    with django_assert_num_queries(BOARD_PAGE_QUERIES):
        client.get(url)
    with django_assert_num_queries(BOARD_PAGE_QUERIES):  # a suite asked for: the same queries
        client.get(url, {"suite": other.pk})
    add_models("more", 10)
    client.get(url)
    with django_assert_num_queries(BOARD_PAGE_QUERIES):
        many = client.get(url).content.decode()
    with django_assert_num_queries(BOARD_PAGE_QUERIES):
        demo = client.get(url, {"suite": other.pk}).content.decode()
    with django_assert_num_queries(BOARD_PAGE_QUERIES):
        fragment = client.get(url, {"suite": mixed_scales.pk, "sort": "mt_bench"}, HTTP_HX_REQUEST="true")

    assert len(model_order(many)) == 14 and len(model_order(demo)) == 11
    assert model_order(fragment.content.decode())[0] == "guesser"  # 7.5 beats everyone's 5.0
