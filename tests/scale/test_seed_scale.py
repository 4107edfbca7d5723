"""seed_scale: synthetic rows for scale benchmarks, refused without consent and hidden from every real board."""
from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from evaluations.models import ModelEntry, Run, Sample, Score
from leaderboard import selectors
from tests.leaderboard.factories import ModelEntryFactory, finished_run

pytestmark = pytest.mark.django_db


def seed():
    call_command("seed_scale", "--models", "12", "--benchmarks", "4", "--runs-per-model", "2", "--samples", "5",
                 "--i-know-this-is-synthetic")


def test_it_refuses_without_being_told_the_rows_are_made_up():
    with pytest.raises(CommandError, match="--i-know-this-is-synthetic"):
        call_command("seed_scale", "--models", "2")
    assert not ModelEntry.every.exists()


def test_synthetic_rows_appear_nowhere_on_a_real_site(client):
    real = ModelEntryFactory(name="real-model")
    finished_run(real, {"arc_easy": 0.5})
    seed()
    assert ModelEntry.every.filter(is_synthetic=True).count() == 12
    assert Run.objects.filter(model__is_synthetic=True).count() == 24
    assert Score.objects.filter(run__model__is_synthetic=True).count() == 12 * 2 * 4
    assert Sample.objects.filter(run__model__is_synthetic=True).count() == 12 * 4 * 5
    assert list(ModelEntry.objects.values_list("name", flat=True)) == ["real-model"]
    assert all(suite.slug != "synthetic-scale" for suite in selectors.suite_choices())
    for path in ("/", "/models/", "/runs/", "/api/v1/models/", "/api/v1/runs/", "/performance/"):
        body = client.get(path).content.decode()
        assert "synthetic-" not in body, path
    assert client.get("/api/v1/models/").json()["count"] == 1


def test_the_scale_benchmark_sees_them_when_the_setting_is_on(settings):
    seed()
    settings.BENCHSITE_SHOW_SYNTHETIC = True
    suite = next(s for s in selectors.suite_choices() if s.slug == "synthetic-scale")
    board = selectors.leaderboard_rows(suite_id=suite.pk)
    assert len(board.rows) == 12 and len(board.columns) == 4
    assert all(cell is not None for row in board.rows for cell in row.cells)


def test_remove_deletes_every_synthetic_row():
    seed()
    call_command("seed_scale", "--remove", "--i-know-this-is-synthetic")
    assert not ModelEntry.every.filter(is_synthetic=True).exists()
    assert not Run.objects.exists() and not Score.objects.exists()


def test_the_board_is_sorted_over_all_models_and_shown_a_page_at_a_time(client, settings):
    import re

    seed()
    settings.BENCHSITE_SHOW_SYNTHETIC = True
    settings.BENCHSITE_LEADERBOARD_PAGE_SIZE = 5
    suite = next(s for s in selectors.suite_choices() if s.slug == "synthetic-scale")
    ranked = [row.model.slug for row in selectors.leaderboard_rows(suite_id=suite.pk).rows]
    shown = []
    for page in (1, 2, 3):
        html = client.get(f"/?suite={suite.pk}&page={page}").content.decode()
        slugs = re.findall(r'<tr data-model="([^"]+)"', html)
        assert len(slugs) == (5 if page < 3 else 2)
        assert f"Models {(page - 1) * 5 + 1}–{(page - 1) * 5 + len(slugs)} of 12" in html
        shown += slugs
    assert shown == ranked


def test_pairwise_pearson_matches_scipy_on_the_pairs_both_have():
    import numpy as np
    from scipy.stats import pearsonr

    from evaluations.statistics import pearson_pairwise

    rng = np.random.default_rng(5)
    matrix = rng.random((40, 4))
    matrix[rng.random((40, 4)) < 0.3] = np.nan
    matrix[:, 3] = np.where(np.isnan(matrix[:, 3]), np.nan, 0.5)  # constant where present: no correlation
    r, n = pearson_pairwise(matrix)
    both = ~np.isnan(matrix[:, 0]) & ~np.isnan(matrix[:, 1])
    assert n[0, 1] == both.sum()
    assert r[0, 1] == pytest.approx(pearsonr(matrix[both, 0], matrix[both, 1]).statistic)
    assert r[0, 0] == pytest.approx(1.0) and np.isnan(r[0, 3]) and np.isnan(r[3, 3])
