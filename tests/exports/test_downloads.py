"""CSV and JSON downloads: the leaderboard with its filters, a run's samples, a comparison; harness results JSON."""
from __future__ import annotations

import csv
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from evaluations import compare
from tests.history.conftest import abilities, draws, run_with_items, worse
from tests.leaderboard.conftest import Board, board  # noqa: F401 (the fixture)
from tests.leaderboard.factories import BenchmarkFactory, ModelEntryFactory, SampleFactory, SuiteFactory, finished_run

pytestmark = pytest.mark.django_db


def csv_rows(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_the_leaderboard_csv_has_the_boards_rows_in_its_order(client: Client, board: Board):
    rows = csv_rows(client.get(reverse("leaderboard:leaderboard_download", args=["csv"])))

    assert [row["model"] for row in rows] == ["gamma", "beta", "alpha"]  # by normalised average, as the page
    alpha = rows[2]
    assert (float(alpha["arc_easy"]), int(alpha["arc_easy_n"]), int(alpha["arc_easy_run"])) == (
        0.8, 100, board.alpha_run.pk)
    assert float(alpha["gsm8k"]) == 0.3 and rows[0]["gsm8k"] == ""  # gamma has no gsm8k: an empty cell
    assert float(alpha["normalized_average"]) == pytest.approx(0.4556, abs=1e-4)


def test_the_leaderboard_downloads_follow_the_current_filters(client: Client, board: Board):
    url = reverse("leaderboard:leaderboard_download", args=["csv"])
    by_name = csv_rows(client.get(url, {"sort": "model", "dir": "asc", "suite": board.suite.pk}))
    document = client.get(reverse("leaderboard:leaderboard_download", args=["json"]), {"sort": "arc_easy"}).json()
    page = client.get(reverse("leaderboard:index"), {"sort": "model", "dir": "asc"}).content.decode()

    assert [row["model"] for row in by_name] == ["alpha", "beta", "gamma"]
    assert [row["model"] for row in document["rows"]] == ["gamma", "alpha", "beta"]  # 0.90, 0.80, 0.60
    assert document["suite"]["id"] == board.suite.pk and document["sort"] == "arc_easy"
    assert "/leaderboard.csv?sort=model&amp;dir=asc" in page


def test_a_runs_samples_download_as_csv_and_json_with_the_pages_filters(client: Client, board: Board):
    run = board.alpha_run
    arc = run.benchmarks.get(slug="arc_easy")
    SampleFactory(run=run, benchmark=arc, doc_id=500, prompt='Say "hi",\nthen stop', output="a,b\n\"c\"",
                  correct=False)

    wrong = csv_rows(client.get(reverse("leaderboard:run_samples_download", args=[run.pk, "csv"]),
                                {"benchmark": "arc_easy", "correct": "false"}))
    everything = client.get(reverse("leaderboard:run_samples_download", args=[run.pk, "json"]))
    document = json.loads(b"".join(everything.streaming_content))

    assert len(wrong) == 31 and {row["correct"] for row in wrong} == {"false"}
    tricky = next(row for row in wrong if row["doc_id"] == "500")
    assert (tricky["prompt"], tricky["output"]) == ('Say "hi",\nthen stop', 'a,b\n"c"')
    assert json.loads(tricky["metrics"]) == {"acc": 0.0}
    assert document["run_id"] == run.pk and len(document["samples"]) == 60 + 5 + 1


def test_a_private_runs_downloads_are_not_found_for_others(client: Client):
    owner = get_user_model().objects.create_user("owner", "owner@example.org", "pw")
    run = finished_run(ModelEntryFactory(name="hidden"), {"arc_easy": 0.5}, is_private=True, created_by=owner)
    urls = [reverse("leaderboard:run_samples_download", args=[run.pk, "csv"]),
            reverse("leaderboard:run_harness_results", args=[run.pk])]

    assert [client.get(url).status_code for url in urls] == [404, 404]
    client.force_login(owner)
    assert [client.get(url).status_code for url in urls] == [200, 200]


def test_a_comparison_downloads_with_the_pages_numbers(client: Client):
    BenchmarkFactory(slug="arc_easy", title="ARC-Easy", primary_metric="acc_norm")
    suite = SuiteFactory(slug="standard", order=["arc_easy"])
    chances = abilities(seed=1)
    first, second = ModelEntryFactory(name="first"), ModelEntryFactory(name="second")
    run_with_items(first, {"arc_easy": draws(chances, seed=1)}, days_ago=1)
    run_with_items(second, {"arc_easy": draws(worse(chances, 15), seed=2)}, days_ago=1)
    query = {"models": "first,second", "suite": suite.pk}

    rows = csv_rows(client.get(reverse("leaderboard:compare_download", args=["csv"]), query))
    document = client.get(reverse("leaderboard:compare_download", args=["json"]), query).json()
    expected = compare.model_comparison(models=[first, second], suite=suite, user=None).pairs[0].rows[0]

    assert len(rows) == 1 and rows[0]["benchmark"] == "arc_easy" and rows[0]["test"] == "exact McNemar"
    assert float(rows[0]["p_value"]) == pytest.approx(expected.p_value, rel=1e-12)
    assert float(rows[0]["delta"]) == pytest.approx(expected.delta) and rows[0]["verdict"] == expected.verdict
    assert document["rows"][0]["ci_low"] == pytest.approx(expected.ci_low)
    assert client.get(reverse("leaderboard:compare_download", args=["csv"]), {"models": "first"}).status_code == 404
