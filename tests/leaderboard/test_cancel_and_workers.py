"""Cancelling a run from its page, and the workers page."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from evaluations.models import RunStatus, Shard, ShardStatus, WorkerRecord
from tests.leaderboard.factories import ModelEntryFactory, RunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def running_run():
    owner = get_user_model().objects.create_user("alice", password="pw")
    run = RunFactory(model=ModelEntryFactory(name="m"), status=RunStatus.RUNNING, created_by=owner, total=40)
    Shard.objects.create(run=run, benchmark_slug="arc_easy", start=0, stop=20, status=ShardStatus.RUNNING)
    Shard.objects.create(run=run, benchmark_slug="arc_easy", start=20, stop=40)
    return run


def test_owner_cancels_from_the_run_page(client, running_run):
    client.login(username="alice", password="pw")
    page = client.get(reverse("leaderboard:run_detail", args=[running_run.pk])).content.decode()
    assert 'id="cancel-run"' in page
    response = client.post(reverse("leaderboard:run_cancel", args=[running_run.pk]), follow=True)
    running_run.refresh_from_db()
    assert running_run.status == RunStatus.CANCELLED
    assert "cancelled" in response.content.decode()
    assert running_run.shards.get(start=20).status == ShardStatus.CANCELLED


def test_others_cannot_cancel(client, running_run):
    get_user_model().objects.create_user("bob", password="pw")
    client.login(username="bob", password="pw")
    assert 'id="cancel-run"' not in client.get(reverse("leaderboard:run_detail", args=[running_run.pk])).content.decode()
    assert client.post(reverse("leaderboard:run_cancel", args=[running_run.pk])).status_code == 403
    client.logout()
    assert client.post(reverse("leaderboard:run_cancel", args=[running_run.pk])).status_code == 302  # to login
    assert client.get(reverse("leaderboard:run_cancel", args=[running_run.pk])).status_code in (302, 405)
    running_run.refresh_from_db()
    assert running_run.status == RunStatus.RUNNING


def test_workers_page_shows_up_and_down(client):
    now = timezone.now()
    WorkerRecord.objects.create(hostname="cpu1@host", queues=["cpu"], device="cpu: x", memory_bytes=2**34,
                                started_at=now, heartbeat_at=now)
    WorkerRecord.objects.create(hostname="gpu1@host", queues=["gpu-24gb"], device="H100", memory_bytes=2**34,
                                started_at=now, heartbeat_at=now - timedelta(minutes=5))
    html = client.get(reverse("leaderboard:worker_list")).content.decode()
    cpu, gpu = html.index("cpu1@host"), html.index("gpu1@host")
    assert "badge-finished\">up" in html[cpu:gpu] and "badge-failed\">down" in html[gpu:]
