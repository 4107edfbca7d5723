"""Charts on the existing pages: the leaderboard's heat-map and benchmark correlations, the model page's radar."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from leaderboard import selectors
from tests.leaderboard.factories import BenchmarkFactory, ModelEntryFactory, SuiteFactory, finished_run

pytestmark = pytest.mark.django_db

SLUGS = ["arc_easy", "hellaswag", "winogrande"]


@pytest.fixture
def four_models():
    """arc_easy and hellaswag rise together across models; winogrande falls as they rise."""
    for slug, category in zip(SLUGS, ["reasoning", "knowledge", "commonsense"]):
        BenchmarkFactory(slug=slug, title=slug.title(), category=category)
    SuiteFactory(slug="standard", order=SLUGS)
    for index in range(4):
        model = ModelEntryFactory(name=f"m{index}")
        finished_run(model, {"arc_easy": 0.4 + 0.1 * index, "hellaswag": 0.3 + 0.1 * index,
                             "winogrande": 0.9 - 0.05 * index})


def test_benchmark_correlations_come_from_the_boards_cells(four_models):
    board = selectors.leaderboard_rows()

    matrix = selectors.benchmark_correlations(board)

    assert matrix.titles == ["Arc_Easy", "Hellaswag", "Winogrande"]
    assert matrix.pearson[0][1] == pytest.approx(1.0) and matrix.pearson[0][2] == pytest.approx(-1.0)
    assert matrix.n[1][2] == 4


def test_the_leaderboard_draws_its_heatmap_and_correlations(client: Client, four_models):
    html = client.get(reverse("leaderboard:index")).content.decode()

    assert 'id="leaderboard-heatmap"' in html and 'id="correlation-heatmap"' in html
    assert html.index("plotly.min.js") < html.index('id="leaderboard-heatmap"')
    fragment = client.get(reverse("leaderboard:index"), {"sort": "model"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="leaderboard-heatmap"' in fragment  # a re-sorted or re-chosen board redraws it


def test_the_model_page_draws_a_radar_of_its_categories(client: Client, four_models):
    html = client.get(reverse("leaderboard:model_detail", args=["m3"])).content.decode()

    assert 'id="model-radar"' in html and '"type":"scatterpolar"' in html
    assert '"theta":["commonsense","knowledge","reasoning","commonsense"]' in html
