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
