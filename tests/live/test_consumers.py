"""The progress WebSockets through the whole ASGI stack: origin check, session auth, routing, consumers."""
from __future__ import annotations

import re
from functools import partial

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from evaluations.models import Run, RunStatus
from evaluations.progress import publish
from tests.leaderboard.factories import RunFactory
from tests.live.conftest import connect, connects, messages, running_run, session_cookie, store_samples

pytestmark = pytest.mark.django_db(transaction=True)


def live_row_ids(html: str) -> list[int]:
    return [int(run_id) for run_id in re.findall(r'<tr id="live-run-(\d+)"', html)]


def store_and_publish(run: Run, count: int) -> None:
    store_samples(run, count)
    publish(run_id=run.pk, line=f"arc_easy: stored {count} samples")


# -- one run -------------------------------------------------------------------------------------
def test_a_public_run_sends_its_snapshot_on_connect_then_each_published_update():
    run = running_run(done=12, total=120)

    on_connect, update = messages(f"/ws/runs/{run.pk}/", partial(store_and_publish, run, 12))

    assert '<div id="run-progress" hx-swap-oob="true"' in on_connect
    assert '<span id="run-done">12 / 120</span>' in on_connect
    assert '<dd id="run-accuracy">50.0%</dd>' in on_connect
    assert 'data-benchmark="arc_easy"' in on_connect
    assert 'id="run-log"' not in on_connect  # nothing to append yet
    assert '<span id="run-done">24 / 120</span>' in update
    assert '<ul id="run-log" hx-swap-oob="beforeend"><li>arc_easy: stored 12 samples</li></ul>' in update


def test_log_lines_are_escaped():
    run = running_run(done=0, total=10)

    _, update = messages(f"/ws/runs/{run.pk}/", partial(publish, run_id=run.pk, line="<script>alert(1)</script>"))

    assert "<li>&lt;script&gt;alert(1)&lt;/script&gt;</li>" in update


def test_the_final_update_says_to_reload_for_scores():
    run = running_run(done=10, total=10)

    def finish() -> None:
        Run.objects.filter(pk=run.pk).update(status=RunStatus.FINISHED)
        publish(run_id=run.pk, line="run finished")

    _, update = messages(f"/ws/runs/{run.pk}/", finish)

    assert '<span id="run-status" class="badge badge-finished">Finished</span>' in update
    assert 'id="run-final"' in update and "<li>run finished</li>" in update


@pytest.mark.parametrize(("viewer", "allowed"), [(None, False), ("bob", False), ("alice", True)])
def test_a_private_run_streams_only_to_its_owner(request, alice, viewer, allowed):
    run = running_run(done=3, total=30, is_private=True, created_by=alice)
    headers = [session_cookie(request.getfixturevalue(viewer))] if viewer else []

    assert connects(f"/ws/runs/{run.pk}/", *headers) is allowed
    if allowed:
        (on_connect,) = messages(f"/ws/runs/{run.pk}/", headers=headers)
        assert '<span id="run-done">3 / 30</span>' in on_connect


def test_an_unknown_run_is_refused(transactional_db):
    assert connects("/ws/runs/999999/") is False


@pytest.mark.parametrize("path", ["/ws/runs/{run_id}/", "/ws/runs/live/"])
@pytest.mark.parametrize("origin", [b"http://evil.example", b"http://testserver.evil.example"])
def test_pages_from_foreign_origins_cannot_connect(path, origin):
    run = running_run(done=1, total=10)

    assert connects(path.format(run_id=run.pk), origin=(b"origin", origin)) is False


# -- the live runs table -------------------------------------------------------------------------
def test_live_runs_start_with_the_public_active_runs_then_update_their_rows():
    public = running_run(done=12, total=120)
    private = running_run(done=5, total=50, is_private=True)
    finished = RunFactory()

    on_connect, update = messages("/ws/runs/live/", partial(store_and_publish, public, 12))

    assert '<tbody id="live-runs-body" hx-swap-oob="true">' in on_connect
    assert live_row_ids(on_connect) == [public.pk]
    assert finished.pk not in live_row_ids(on_connect) and private.pk not in live_row_ids(on_connect)
    assert f'<tr id="live-run-{public.pk}" hx-swap-oob="true"' in update
    assert "24 / 120" in update and "<tbody" not in update


def test_live_runs_never_send_a_private_run():
    private = running_run(done=5, total=50, is_private=True)

    async def watch() -> bool:
        communicator, _ = await connect("/ws/runs/live/")
        await communicator.receive_from()
        await sync_to_async(store_and_publish)(private, 1)
        nothing = await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        return nothing

    assert async_to_sync(watch)()


def test_a_run_that_starts_after_the_page_gets_a_new_row():
    started: list[Run] = []

    def start() -> None:
        started.append(running_run(done=1, total=10))
        publish(run_id=started[0].pk, line="arc_easy: stored 1 sample")

    on_connect, update = messages("/ws/runs/live/", start)

    assert 'id="live-runs-empty"' in on_connect and live_row_ids(on_connect) == []
    assert '<tbody id="live-runs-body" hx-swap-oob="beforeend">' in update
    assert live_row_ids(update) == [started[0].pk] and "1 / 10" in update
    assert '<tr id="live-runs-empty" hx-swap-oob="delete"></tr>' in update
