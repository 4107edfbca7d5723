"""Tamper protection: in the admin, scores and samples can be looked at by staff but never changed, added or
deleted; a score changes only by a new run."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from evaluations.models import Score
from tests.leaderboard.factories import ModelEntryFactory, SampleFactory, finished_run

pytestmark = pytest.mark.django_db


def test_scores_and_samples_are_read_only_in_the_admin():
    admin = get_user_model().objects.create_superuser("root", "root@example.org", None)
    run = finished_run(ModelEntryFactory(name="m"), {"arc_easy": 0.5})
    score = Score.objects.get(run=run)
    sample = SampleFactory(run=run, benchmark=score.benchmark)
    client = Client()
    client.force_login(admin)
    page = client.get(f"/admin/evaluations/score/{score.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    client.post(f"/admin/evaluations/score/{score.pk}/change/", {"value": "0.99", "metric": score.metric})
    score.refresh_from_db()
    assert score.value == 0.5
    assert client.get("/admin/evaluations/score/add/").status_code == 403
    assert client.post(f"/admin/evaluations/sample/{sample.pk}/delete/", {"post": "yes"}).status_code == 403
    run_page = client.get(f"/admin/evaluations/run/{run.pk}/change/").content.decode()
    assert "0.5" in run_page and 'name="scores-0-value"' not in run_page
