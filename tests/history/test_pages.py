"""History and regressions on the pages: the model page's chart and table, the leaderboard's mark, watching."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from evaluations.history import model_history
from evaluations.models import RegressionWatch
from evaluations.services import regressions
from tests.history.conftest import abilities, benchmarks, draws, run_with_items, worse
from tests.leaderboard.factories import ModelEntryFactory, SuiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def regressed():
    """Three public runs of one model (the third truly worse on ARC-Easy) and a suite version they match."""
    benchmarks()
    SuiteFactory(slug="standard", title="Standard suite", version="7", order=["arc_easy", "winogrande"])
    chances = abilities(seed=1)
    model = ModelEntryFactory(name="tracked")
    runs = [run_with_items(model, {"arc_easy": draws(chances, seed=days), "winogrande": draws(chances, seed=9)},
                           days_ago=days) for days in (5, 3)]
    runs.append(run_with_items(model, {"arc_easy": draws(worse(chances, 25), seed=1),
                                       "winogrande": draws(chances, seed=9)}, days_ago=1))
    for run in runs:
        regressions.regressions_detect(run=run)
    return model, runs


def test_every_finished_run_is_a_point_of_its_configurations_history(regressed):
    model, runs = regressed

    series = model_history(model=model, user=None)

    assert [(s.benchmark, s.label) for s in series] == [("arc_easy", "Standard suite v7"),
                                                       ("winogrande", "Standard suite v7")]
    arc = series[0]
    assert [p.run_id for p in arc.points] == [run.pk for run in runs]  # oldest first
    assert [p.regressed for p in arc.points] == [False, False, True]
    assert all(p.ci_low < p.value < p.ci_high for p in arc.points)


def test_the_model_page_charts_the_history_and_lists_the_regression(client: Client, regressed):
    model, runs = regressed

    html = client.get(reverse("leaderboard:model_detail", args=[model.slug])).content.decode()

    assert 'id="history-chart"' in html and '"name":"ARC-Easy \\u00b7 Standard suite v7"' in html
    assert html.count('"symbol":"x"') == 1  # one regression marker
    table = html[html.index('id="regression-table"'):]
    assert f'href="/runs/{runs[2].pk}/"' in table and f'href="/runs/{runs[1].pk}/"' in table
    assert table.count('class="regression-row"') == 1
    assert 'id="watch-form"' not in html  # anonymous visitors cannot watch


def test_the_leaderboard_marks_the_regressed_cell(client: Client, regressed):
    model, runs = regressed

    html = client.get(reverse("leaderboard:index")).content.decode()

    row = html[html.index(f'data-model="{model.slug}"'):]
    row = row[:row.index("</tr>")]
    assert row.count("▼ regression") == 1
    arc_cell = row[row.index(f"/runs/{runs[2].pk}/"):]
    assert arc_cell.index("▼ regression") < arc_cell.index("</td>")  # in the ARC-Easy cell, not WinoGrande's


def test_a_private_runs_regression_is_seen_only_by_its_owner(client: Client):
    benchmarks()
    owner = get_user_model().objects.create_user("owner", "owner@example.org", "pw")
    chances = abilities(seed=1)
    model = ModelEntryFactory(name="secret")
    kwargs = {"is_private": True, "created_by": owner}
    run_with_items(model, {"arc_easy": draws(chances, seed=1)}, days_ago=2, **kwargs)
    run = run_with_items(model, {"arc_easy": draws(worse(chances, 30), seed=2)}, days_ago=1, **kwargs)
    assert regressions.regressions_detect(run=run)
    url = reverse("leaderboard:model_detail", args=[model.slug])

    anonymous = client.get(url).content.decode()
    client.force_login(owner)
    own = client.get(url).content.decode()

    assert 'id="no-regressions"' in anonymous and 'id="history-chart"' not in anonymous
    assert own.count('class="regression-row"') == 1 and 'id="history-chart"' in own


def test_a_signed_in_user_watches_a_model_with_a_webhook(client: Client):
    user = get_user_model().objects.create_user("fan", "fan@example.org", "pw")
    model = ModelEntryFactory(name="liked")
    client.force_login(user)
    url = reverse("leaderboard:model_watch", args=[model.slug])

    client.post(url, {"email": "1", "webhook_url": "https://hooks.example.org/x"})
    page = client.get(reverse("leaderboard:model_detail", args=[model.slug])).content.decode()
    bad = client.post(url, {"webhook_url": "ftp://nope"}, follow=True).content.decode()

    watch = RegressionWatch.objects.get(user=user, model=model)
    assert (watch.email, watch.webhook_url) == (True, "https://hooks.example.org/x")
    assert 'value="https://hooks.example.org/x"' in page and "You are watching this model." in page
    assert "must be an http or https address" in bad
    client.post(url, {})
    assert not RegressionWatch.objects.exists()
