from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.leaderboard.conftest import ALPHA_AVERAGE, ARC_SAMPLES, ASTRONOMY_SAMPLES, Board
from tests.leaderboard.factories import ModelEntryFactory, finished_run

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def model_order(html: str) -> list[str]:
    return re.findall(r'<tr data-model="([^"]+)"', html)


def sample_ids(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-doc-id="(\d+)" data-correct="(\w+)"', html)


# -- leaderboard ---------------------------------------------------------------------------------
def test_leaderboard_shows_models_values_and_stderr(client: Client, board: Board):
    response = client.get(reverse("leaderboard:index"))

    html = response.content.decode()
    assert response.status_code == 200
    assert model_order(html) == ["gamma", "beta", "alpha"]
    assert "<html" in html and 'id="leaderboard-table"' in html
    assert "80.0" in html and "± 5.0" in html
    assert 'title="n = 100 items (run ' in html
    assert f"{ALPHA_AVERAGE * 100:.1f}" == "45.6" and "45.6" in html  # alpha's normalised average, three benchmarks
    assert "± 3.6" in html  # its standard error
    assert "Normalised average" in html
    assert "idle" not in model_order(html)
    assert "acc_norm" in html and "subset" in html  # the explanatory note


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?sort=average&dir=asc", ["alpha", "beta", "gamma"]),
        ("?sort=gsm8k&dir=desc", ["beta", "alpha", "gamma"]),
        ("?sort=gsm8k&dir=asc", ["alpha", "beta", "gamma"]),
        ("?sort=bogus&dir=sideways", ["gamma", "beta", "alpha"]),
    ],
)
def test_leaderboard_sorting(client: Client, board: Board, query, expected):
    assert model_order(client.get(reverse("leaderboard:index") + query).content.decode()) == expected


def test_header_links_flip_the_current_column_and_work_without_js(client: Client, board: Board):
    html = client.get(reverse("leaderboard:index") + "?sort=gsm8k&dir=desc").content.decode()

    suite = f"?suite={board.suite.pk}&amp;"  # the links keep the suite version shown
    assert f'href="{suite}sort=gsm8k&amp;dir=asc" hx-get="{suite}sort=gsm8k&amp;dir=asc"' in html
    assert f'href="{suite}sort=arc_easy&amp;dir=desc"' in html
    assert f'href="{suite}sort=model&amp;dir=asc"' in html


def test_htmx_request_gets_only_the_table_fragment(client: Client, board: Board):
    response = client.get(reverse("leaderboard:index") + "?sort=average&dir=asc", **HTMX)

    html = response.content.decode()
    assert "<html" not in html and "<nav" not in html
    assert html.strip().startswith('<div id="leaderboard-table"')
    assert model_order(html) == ["alpha", "beta", "gamma"]
    assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(client: Client, board: Board):
    response = client.get(reverse("leaderboard:index"), HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)

    assert "<html" in response.content.decode()


def test_empty_leaderboard_explains_how_to_add_runs(client: Client, db):
    html = client.get(reverse("leaderboard:index")).content.decode()

    assert "No finished runs yet" in html and "make demo" in html and "manage.py evaluate" in html


def test_leaderboard_page_query_count_is_constant(client: Client, board: Board):
    url = reverse("leaderboard:index")
    client.get(url)  # the first read after a change rebuilds the changed models' stored rows
    with CaptureQueriesContext(connection) as before:
        client.get(url)
    for index in range(10):
        model = ModelEntryFactory(name=f"extra-{index}")
        finished_run(model, {"arc_easy": 0.3, "gsm8k": 0.2}, days_ago=3)
        finished_run(model, {"arc_easy": 0.4, "mmlu": 0.5})

    client.get(url)
    with CaptureQueriesContext(connection) as after:
        response = client.get(url)

    assert len(model_order(response.content.decode())) == 13
    # Changes since the last read, suites with results, column metrics, titles, row count, the page's sort
    # keys, its rows, their confirmed flags, the stored correlations.
    assert len(after) == len(before) == 9


# -- models ------------------------------------------------------------------------------------
def test_model_list(client: Client, board: Board, django_assert_num_queries):
    with django_assert_num_queries(1):
        html = client.get(reverse("leaderboard:model_list")).content.decode()

    assert model_order(html) == ["alpha", "beta", "gamma", "idle"]
    assert "1.5B" in html


def test_model_page_shows_metadata_scores_and_runs(client: Client, board: Board, django_assert_num_queries):
    # model, runs, latest primaries, their metrics with benchmarks, titles; regressions, history, suite labels;
    # the community's open flags; the lineage tree's models derived from it (one per level, none here)
    with django_assert_num_queries(10):
        html = client.get(reverse("leaderboard:model_detail", args=["alpha"])).content.decode()

    for text in ("llama", "1.5B", "apache-2.0", "gguf", "Q8_0", board.alpha.file_sha256, "/models/alpha.gguf"):
        assert text in html
    assert "80.00" in html and "75.00" in html  # acc_norm and acc of arc_easy
    assert "MMLU: astronomy" in html
    assert html.count('data-run="') == 3
    assert reverse("leaderboard:run_detail", args=[board.alpha_run.pk]) in html


@pytest.mark.parametrize("url", ["/models/nope/", "/runs/999999/", "/runs/abc/"])
def test_unknown_pages_are_404(client: Client, board: Board, url):
    assert client.get(url).status_code == 404


# -- runs --------------------------------------------------------------------------------------
def test_run_list(client: Client, board: Board, django_assert_num_queries):
    with django_assert_num_queries(2):  # count and page
        html = client.get(reverse("leaderboard:run_list")).content.decode()

    assert html.count('data-run="') == 7
    assert "65/65" in html and "arc_easy, mmlu" in html
    assert "llama_cpp · custom options · first 60" in html  # each run's configuration


def test_run_page_shows_provenance_scores_and_first_sample_page(
    client: Client, board: Board, django_assert_num_queries
):
    # run, its benchmarks, scores with benchmarks, sample count, response-cache summary, sample page
    with django_assert_num_queries(6):
        html = client.get(reverse("leaderboard:run_detail", args=[board.alpha_run.pk])).content.decode()

    assert board.alpha_run.config_hash in html
    assert "d" * 64 in html and "5" * 64 in html and "6" * 64 in html  # dataset and task spec hashes
    assert "&quot;limit&quot;: 60" in html and "&quot;python&quot;: &quot;3.11&quot;" in html  # config, environment
    assert 'value="65" max="65"' in html
    assert "80.00" in html and "40.00" in html
    samples = sample_ids(html)
    assert len(samples) == 50 and samples[0] == ("0", "true")
    assert f"{ARC_SAMPLES + ASTRONOMY_SAMPLES} samples" in html
    assert "Question 0?" in html and "-1.5000 ← predicted" in html


def test_failed_run_shows_its_error(client: Client, board: Board):
    failed = board.alpha.runs.get(status="failed")

    assert "RuntimeError: out of memory" in client.get(reverse("leaderboard:run_detail", args=[failed.pk])).content.decode()


@pytest.mark.parametrize(
    ("query", "count", "marks"),
    [
        ("?correct=true", ARC_SAMPLES // 2, {"true"}),
        ("?correct=false", ARC_SAMPLES // 2 + ASTRONOMY_SAMPLES, {"false"}),
        ("?benchmark=mmlu_astronomy", ASTRONOMY_SAMPLES, {"false"}),
        ("?benchmark=arc_easy&correct=true", ARC_SAMPLES // 2, {"true"}),
    ],
)
def test_sample_filters(client: Client, board: Board, query, count, marks):
    html = client.get(reverse("leaderboard:run_detail", args=[board.alpha_run.pk]) + query).content.decode()

    samples = sample_ids(html)
    assert len(samples) == min(count, 50)
    assert {correct for _, correct in samples} == marks
    assert f"{count} sample" in html


def test_htmx_filter_gets_only_the_samples_fragment(client: Client, board: Board):
    url = reverse("leaderboard:run_detail", args=[board.alpha_run.pk])
    response = client.get(url + "?benchmark=mmlu_astronomy&correct=false", **HTMX)

    html = response.content.decode()
    assert "<html" not in html and "Configuration" not in html
    assert [doc for doc, _ in sample_ids(html)] == ["0", "1", "2", "3", "4"]
    assert "Mars" in html


def test_sample_pagination_keeps_the_filter(client: Client, board: Board):
    url = reverse("leaderboard:run_detail", args=[board.alpha_run.pk])
    first = client.get(url + "?benchmark=arc_easy", **HTMX).content.decode()

    assert 'href="?benchmark=arc_easy&amp;page=2"' in first
    second = client.get(url + "?benchmark=arc_easy&page=2", **HTMX).content.decode()
    assert [doc for doc, _ in sample_ids(second)] == [str(doc) for doc in range(50, ARC_SAMPLES)]
    assert 'href="?benchmark=arc_easy&amp;page=1"' in second and "Page 2 of 2" in second


@pytest.mark.parametrize(
    "query", ["?correct=maybe", "?page=abc", "?page=-3", "?benchmark=nope", "?correct=&benchmark=&page="]
)
def test_bad_sample_params_fall_back_to_defaults(client: Client, board: Board, query):
    response = client.get(reverse("leaderboard:run_detail", args=[board.alpha_run.pk]) + query)

    assert response.status_code == 200
    html = response.content.decode()
    assert f"{ARC_SAMPLES + ASTRONOMY_SAMPLES} samples" in html


def test_run_page_of_a_run_without_samples(client: Client, board: Board):
    run = board.beta.runs.get()

    html = client.get(reverse("leaderboard:run_detail", args=[run.pk])).content.decode()

    assert "No samples match this filter." in html


def test_nav_links(client: Client, db):
    html = client.get(reverse("leaderboard:model_list")).content.decode()

    for name in ("leaderboard:index", "leaderboard:run_list", "admin:index", "account_login"):
        assert f'href="{reverse(name)}' in html
    assert "/static/js/htmx.min.js" in html and "/static/css/site.css" in html
