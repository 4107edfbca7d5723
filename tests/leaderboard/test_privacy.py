"""Private runs appear nowhere public: no page, fragment, count, profile link or socket shows them to anyone
but their owner and staff, and the leaderboard, live and performance pages never show them at all."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from evaluations.models import ModelEntry, PerformanceProfile, Run, Suite
from evaluations.progress import LIVE_RUNS_GROUP, progress_snapshot, publish
from tests.leaderboard.factories import (
    BenchmarkFactory,
    ModelEntryFactory,
    SampleFactory,
    SuiteFactory,
    finished_run,
)
from tests.leaderboard.test_performance_page import fake_results, stored_profile
from tests.live.conftest import connect, connects, running_run, session_cookie, store_samples

HTMX = {"HTTP_HX_REQUEST": "true"}
# The private run's scores: values no public score, average or stderr on these pages comes near.
PRIVATE_SCORES = {"arc_easy": 0.9137, "gsm8k": 0.8642}
# As the pages print them: percent, percent with two decimals, raw (titles), normalised, normalised average.
PRIVATE_MARKERS = ("91.4", "91.37", "0.9137", "86.4", "86.42", "0.8642", "88.5", "87.5")
MARKER_PATTERNS = [re.compile(rf"(?<![\d.]){re.escape(marker)}(?!\d)") for marker in PRIVATE_MARKERS]
PUBLIC_SCORES = {"arc_easy": 0.55, "gsm8k": 0.35}
PRIVATE_PROMPT = "Private prompt about the vault code"
PRIVATE_TARGET = "private-target-7731"
PRIVATE_SAMPLES = 60  # more than one page of samples


@dataclass
class World:
    model: ModelEntry
    public: Run  # finished, with scores and samples
    private: Run  # alice's, finished later, with scores keyed for the same suite and samples
    private_running: Run  # alice's, in progress
    public_running: Run
    suite: Suite  # the suite both finished runs match
    private_suite: Suite  # a suite version only the private run matches
    private_profile: PerformanceProfile  # measured with the private run's options, naming it as its quality run


def mentions(html: str, run: Run) -> bool:
    """Whether a page refers to a run: its links, row ids, "#id", "run id", "Run #id"."""
    pk = run.pk
    return re.search(rf'/runs/{pk}/|data-run="{pk}"|#{pk}\b|\brun {pk}\b|live-run-{pk}\b', html) is not None


def leaks(html: str, world: World) -> list[str]:
    found = [pattern.pattern for pattern in MARKER_PATTERNS if pattern.search(html)]
    found += [text for text in (PRIVATE_PROMPT, PRIVATE_TARGET) if text in html]
    found += [f"run {run.pk}" for run in (world.private, world.private_running) if mentions(html, run)]
    return found


def model_counts(html: str, slug: str) -> str:
    row = re.search(rf'<tr data-model="{slug}">.*?</tr>', html, re.S).group(0)
    return re.findall(r'<td class="num">([^<]*)</td>', row)[-1]


def constant_numbers(record):
    """A profile record with every measured number set to 1: the pages then hold no number by chance."""
    if isinstance(record, dict):
        return {key: constant_numbers(value) for key, value in record.items()}
    if isinstance(record, list):
        return [constant_numbers(value) for value in record]
    if isinstance(record, (int, float)) and not isinstance(record, bool):
        return 1
    return record


def build_world() -> World:
    alice = get_user_model().objects.create_user("alice", password="pw")
    get_user_model().objects.create_user("bob", password="pw")
    get_user_model().objects.create_user("root", password="pw", is_staff=True)
    BenchmarkFactory(slug="arc_easy", title="ARC-Easy", primary_metric="acc_norm")
    BenchmarkFactory(slug="gsm8k", title="GSM8K", primary_metric="exact_match,strict-match")
    suite = SuiteFactory(slug="standard", order=["arc_easy", "gsm8k"])
    private_suite = SuiteFactory(slug="demo", order=["arc_easy"], variant="secret")
    model = ModelEntryFactory(name="shared-model")

    public = finished_run(model, PUBLIC_SCORES, days_ago=2, done=80, total=80, config={"limit": 80})
    private = finished_run(model, PRIVATE_SCORES, days_ago=1, is_private=True, created_by=alice, done=60, total=60)
    finished_run(model, {"arc_easy": PRIVATE_SCORES["arc_easy"]}, variant="secret", is_private=True, created_by=alice)
    arc = BenchmarkFactory(slug="arc_easy")
    for doc_id in range(80):
        SampleFactory(run=public, benchmark=arc, doc_id=doc_id, correct=doc_id % 2 == 0)
    for doc_id in range(PRIVATE_SAMPLES):
        SampleFactory(run=private, benchmark=arc, doc_id=doc_id, correct=doc_id % 3 == 0, target=PRIVATE_TARGET,
                      prompt=f"{PRIVATE_PROMPT} {doc_id}?\nAnswer:")
    private_running = running_run(done=3, total=30, model=model, is_private=True, created_by=alice)
    public_running = running_run(done=5, total=50, model=model)
    # Profiles measured with the runs' options: one names the private run as its quality run.
    results = constant_numbers(fake_results(sweep=False))
    private_profile = stored_profile(model, preset="balanced", run=private, results=results)
    stored_profile(model, preset="performance", run=public, results=results)
    return World(model, public, private, private_running, public_running, suite, private_suite, private_profile)


@pytest.fixture
def world(db) -> World:
    return build_world()


def as_user(name: str | None) -> Client:
    client = Client()
    if name:
        client.force_login(get_user_model().objects.get(username=name))
    return client


def public_pages(world: World) -> list[tuple[str, dict, dict]]:
    """Every page and fragment anyone may open: (path, query, headers)."""
    index = reverse("leaderboard:index")
    run = reverse("leaderboard:run_detail", args=[world.public.pk])
    slug = world.model.slug
    return [
        (index, {}, {}),
        (index, {"suite": world.suite.pk}, {}),
        (index, {"suite": world.private_suite.pk}, {}),
        (index, {"suite": world.suite.pk, "sort": "arc_easy", "dir": "desc"}, HTMX),
        (index, {"sort": "average", "dir": "asc"}, HTMX),
        (reverse("leaderboard:model_list"), {}, {}),
        (reverse("leaderboard:model_detail", args=[slug]), {}, {}),
        (reverse("leaderboard:model_performance", args=[slug]), {}, {}),
        (reverse("leaderboard:model_performance", args=[slug]), {"profile": world.private_profile.pk}, {}),
        (reverse("leaderboard:performance"), {}, {}),
        (reverse("leaderboard:run_list"), {}, {}),
        (reverse("leaderboard:run_list"), {"page": 2}, {}),
        (reverse("leaderboard:live_runs"), {}, {}),
        (run, {}, {}),
        (run, {"benchmark": "arc_easy", "correct": "false"}, {}),
        (run, {"page": 2}, {}),
        (run, {"benchmark": "arc_easy", "page": 2}, HTMX),
        (reverse("leaderboard:run_detail", args=[world.public_running.pk]), {}, {}),
        (reverse("leaderboard:worker_list"), {}, {}),
    ]


# -- pages ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("viewer", [None, "bob"])
def test_no_page_or_fragment_shows_a_private_run_to_others(world: World, viewer):
    client = as_user(viewer)

    for path, query, headers in public_pages(world):
        response = client.get(path, query, **headers)
        assert response.status_code == 200, (path, query)
        assert leaks(response.content.decode(), world) == [], (path, query, headers)


@pytest.mark.parametrize("viewer", [None, "bob"])
def test_a_private_run_is_404_to_others(world: World, viewer):
    client = as_user(viewer)

    for run in (world.private, world.private_running):
        url = reverse("leaderboard:run_detail", args=[run.pk])
        for query, headers in (({}, {}), ({"benchmark": "arc_easy", "correct": "true"}, {}), ({"page": 2}, HTMX)):
            response = client.get(url, query, **headers)
            assert response.status_code == 404
            assert leaks(response.content.decode(), world) == []
    cancel = client.post(reverse("leaderboard:run_cancel", args=[world.private_running.pk]))
    assert cancel.status_code == (404 if viewer else 302)  # anonymous: to the login page first
    world.private_running.refresh_from_db()
    assert world.private_running.status == "running"


def test_the_public_pages_do_show_the_public_run(world: World):
    """The checks above would pass on empty pages: the same pages do show the public runs."""
    client = as_user(None)
    html = {(path, str(query)): client.get(path, query, **headers).content.decode()
            for path, query, headers in public_pages(world)}

    assert mentions(html[(reverse("leaderboard:index"), "{}")], world.public)
    assert "55.0" in html[(reverse("leaderboard:index"), "{}")]
    assert mentions(html[(reverse("leaderboard:model_detail", args=[world.model.slug]), "{}")], world.public)
    assert mentions(html[(reverse("leaderboard:run_list"), "{}")], world.public)
    assert mentions(html[(reverse("leaderboard:live_runs"), "{}")], world.public_running)
    assert mentions(html[(reverse("leaderboard:performance"), "{}")], world.public)
    run_page = html[(reverse("leaderboard:run_detail", args=[world.public.pk]), "{}")]
    assert "Question 0?" in run_page and "55.00" in run_page


@pytest.mark.parametrize("viewer", [None, "bob"])
def test_model_counts_leave_the_private_runs_out_for_others(world: World, viewer):
    html = as_user(viewer).get(reverse("leaderboard:model_list")).content.decode()

    assert model_counts(html, world.model.slug) == "2 (1)"  # the public finished and running runs


@pytest.mark.parametrize("viewer", ["alice", "root"])
def test_the_owner_and_staff_see_the_private_run_on_run_and_model_pages(world: World, viewer):
    client = as_user(viewer)

    run_page = client.get(reverse("leaderboard:run_detail", args=[world.private.pk]))
    assert run_page.status_code == 200
    html = run_page.content.decode()
    assert "91.37" in html and f"{PRIVATE_PROMPT} 0?" in html
    samples = client.get(reverse("leaderboard:run_detail", args=[world.private.pk]), {"page": 2}, **HTMX)
    assert f"{PRIVATE_PROMPT} 59?" in samples.content.decode()
    running = client.get(reverse("leaderboard:run_detail", args=[world.private_running.pk])).content.decode()
    assert f'ws-connect="/ws/runs/{world.private_running.pk}/"' in running

    model_page = client.get(reverse("leaderboard:model_detail", args=[world.model.slug])).content.decode()
    assert mentions(model_page, world.private) and "91.37" in model_page  # its latest scores are the private run's
    assert mentions(model_page, world.public)
    run_list = client.get(reverse("leaderboard:run_list")).content.decode()
    assert mentions(run_list, world.private) and "private</span>" in run_list
    counts = model_counts(client.get(reverse("leaderboard:model_list")).content.decode(), world.model.slug)
    assert counts == "5 (3)"


@pytest.mark.parametrize("viewer", ["alice", "root"])
def test_the_leaderboard_live_and_performance_pages_are_public_only_even_for_the_owner(world: World, viewer):
    client = as_user(viewer)

    for path, query, headers in public_pages(world):
        if "/models/" in path and "performance" not in path or path.startswith("/runs/") and path != "/runs/live/":
            continue  # the owner's own model and run pages do show it (above)
        html = client.get(path, query, **headers).content.decode()
        assert leaks(html, world) == [], (path, query, headers)


# -- sockets -------------------------------------------------------------------------------------
@pytest.fixture
def live_world(transactional_db) -> Iterator[World]:
    """The same runs, committed, for consumers that read them on other threads."""
    yield build_world()
    async_to_sync(get_channel_layer().flush)()


def cookie(name: str) -> list[tuple[bytes, bytes]]:
    return [session_cookie(get_user_model().objects.get(username=name))]


@pytest.mark.parametrize(("viewer", "allowed"), [(None, False), ("bob", False), ("alice", True), ("root", True)])
def test_a_private_runs_socket_refuses_everyone_but_its_owner_and_staff(live_world: World, viewer, allowed):
    headers = cookie(viewer) if viewer else []

    for run in (live_world.private_running, live_world.private):
        assert connects(f"/ws/runs/{run.pk}/", *headers) is allowed
    assert connects(f"/ws/runs/{live_world.public_running.pk}/", *headers) is True


@pytest.mark.parametrize("viewer", [None, "bob", "alice"])
def test_the_live_runs_socket_never_sends_a_private_run(live_world: World, viewer):
    private, public = live_world.private_running, live_world.public_running
    headers = cookie(viewer) if viewer else []

    def forged() -> None:
        """A progress message for the private run that claims to be public: the row is looked up, not trusted."""
        snapshot = {**progress_snapshot(run_id=private.pk).as_dict(), "is_private": False}
        async_to_sync(get_channel_layer().group_send)(
            LIVE_RUNS_GROUP, {"type": "run.progress", "snapshot": snapshot, "line": "forged"}
        )

    def progress() -> None:
        """What a worker does after a flush: store samples, publish the run's snapshot."""
        store_samples(private, 2)
        publish(run_id=private.pk, line="arc_easy: stored 2 samples")

    async def watch() -> tuple[str, list[bool], str]:
        communicator, connected = await connect("/ws/runs/live/", *headers)
        assert connected
        first = await communicator.receive_from()
        quiet = []
        for step in (progress, forged):
            await sync_to_async(step)()
            quiet.append(await communicator.receive_nothing(timeout=0.3))
        await sync_to_async(publish)(run_id=public.pk, line="public update")
        update = await communicator.receive_from()
        await communicator.disconnect()
        return first, quiet, update

    first, quiet, update = async_to_sync(watch)()

    assert mentions(first, public) and not mentions(first, private)
    assert quiet == [True, True]  # nothing at all was sent for the private run
    assert mentions(update, public) and not mentions(update, private)  # the socket was listening
