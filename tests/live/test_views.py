"""The run page and the live runs page as first painted, before their WebSockets take over."""
from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.leaderboard.factories import RunFactory
from tests.live.conftest import messages, running_run

pytestmark = pytest.mark.django_db(transaction=True)

PROGRESS_PANEL = re.compile(r'<div id="run-progress".*?\n</div>', re.S)


def test_a_running_run_page_paints_the_progress_and_connects_its_socket(client: Client):
    run = running_run(done=12, total=120)

    html = client.get(reverse("leaderboard:run_detail", args=[run.pk])).content.decode()

    assert f'<section hx-ext="ws" ws-connect="/ws/runs/{run.pk}/"' in html
    assert '<span id="run-done">12 / 120</span>' in html
    assert 'data-benchmark="arc_easy"' in html and '<dd id="run-accuracy">50.0%</dd>' in html
    assert '<ul id="run-log"' in html and "hx-swap-oob" not in html


def test_the_socket_replaces_the_panel_with_the_same_markup(client: Client):
    run = running_run(done=12, total=120, started=False)  # no rate yet: nothing in the panel depends on the clock
    page = client.get(reverse("leaderboard:run_detail", args=[run.pk])).content.decode()

    (sent,) = messages(f"/ws/runs/{run.pk}/")

    assert PROGRESS_PANEL.search(sent.replace(' hx-swap-oob="true"', "")).group() == PROGRESS_PANEL.search(page).group()


def test_a_finished_run_page_has_no_socket(client: Client):
    run = RunFactory(done=65, total=65)

    html = client.get(reverse("leaderboard:run_detail", args=[run.pk])).content.decode()

    assert "ws-connect" not in html and 'id="run-progress"' not in html
    assert 'value="65" max="65"' in html and "65/65 items" in html


def test_a_private_run_page_exists_and_connects_only_for_its_owner(client: Client, alice, bob):
    run = running_run(done=3, total=30, is_private=True, created_by=alice)
    url = reverse("leaderboard:run_detail", args=[run.pk])

    anonymous = client.get(url)
    client.force_login(bob)
    other = client.get(url)
    client.force_login(alice)
    owner = client.get(url).content.decode()

    for response in (anonymous, other):
        assert response.status_code == 404  # to others a private run does not exist: no page, no socket
        assert "ws-connect" not in response.content.decode()
    assert f'ws-connect="/ws/runs/{run.pk}/"' in owner and '<span id="run-done">3 / 30</span>' in owner


def test_live_runs_page_lists_public_queued_and_running_runs(client: Client):
    public = running_run(done=12, total=120)
    queued = RunFactory(status="queued", done=0, total=40, finished_at=None)
    private = running_run(done=1, total=10, is_private=True)
    finished = RunFactory()

    html = client.get(reverse("leaderboard:live_runs")).content.decode()

    assert 'hx-ext="ws" ws-connect="/ws/runs/live/"' in html
    shown = {int(run_id) for run_id in re.findall(r'<tr id="live-run-(\d+)"', html)}
    assert shown == {public.pk, queued.pk}
    assert private.pk not in shown and finished.pk not in shown
    assert "12 / 120" in html and "hx-swap-oob" not in html


def test_live_runs_page_without_runs(client: Client):
    html = client.get(reverse("leaderboard:live_runs")).content.decode()

    assert '<tr id="live-runs-empty">' in html and "No queued or running public runs." in html
