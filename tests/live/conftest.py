"""Runs in progress built with the ORM, named users, and WebSocket helpers for the consumers' tests."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from benchsite.asgi import application
from evaluations.models import Run, RunStatus, Shard
from tests.leaderboard.factories import BenchmarkFactory, RunFactory, SampleFactory

ORIGIN = (b"origin", b"http://testserver")  # a page served from ALLOWED_HOSTS


def running_run(*, done: int, total: int, started: bool = True, **fields) -> Run:
    """A running arc_easy run in one shard with `done` stored samples, every other one correct."""
    run = RunFactory(
        status=RunStatus.RUNNING, done=0, total=total, finished_at=None,
        started_at=timezone.now() - timedelta(seconds=60) if started else None, **fields,
    )
    Shard.objects.create(run=run, benchmark_slug="arc_easy", start=0, stop=total)
    store_samples(run, done)
    return run


def store_samples(run: Run, count: int) -> None:
    """What a worker's flush leaves behind: `count` more samples and the run's counter moved on."""
    arc = BenchmarkFactory(slug="arc_easy")
    for doc_id in range(run.done, run.done + count):
        SampleFactory(run=run, benchmark=arc, doc_id=doc_id, correct=doc_id % 2 == 0, output_tokens=4)
    run.done += count
    run.save(update_fields=["done"])


def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return (b"cookie", f"{name}={client.cookies[name].value}".encode())


async def connect(path: str, *headers: tuple[bytes, bytes], origin=ORIGIN) -> tuple[WebsocketCommunicator, bool]:
    communicator = WebsocketCommunicator(application, path, headers=[origin, *headers])
    connected, _ = await communicator.connect()
    return communicator, connected


def connects(path: str, *headers: tuple[bytes, bytes], origin=ORIGIN) -> bool:
    async def attempt() -> bool:
        communicator, connected = await connect(path, *headers, origin=origin)
        await communicator.disconnect()
        return connected

    return async_to_sync(attempt)()


def messages(path: str, *steps: Callable[[], object], headers: Iterable[tuple[bytes, bytes]] = ()) -> list[str]:
    """What the socket at `path` sends on connect, then after each step (sync code: store rows, publish)."""

    async def session() -> list[str]:
        communicator, connected = await connect(path, *headers)
        assert connected, f"{path} refused the connection"
        received = [await communicator.receive_from()]
        for step in steps:
            await sync_to_async(step)()
            received.append(await communicator.receive_from())
        await communicator.disconnect()
        return received

    return async_to_sync(session)()


@pytest.fixture(autouse=True)
def channel_layer():
    """Groups and queued messages do not leak from one test to the next (the layer outlives a test)."""
    layer = get_channel_layer()
    yield layer
    async_to_sync(layer.flush)()


@pytest.fixture
def alice(transactional_db):
    return get_user_model().objects.create_user("alice", password="unused-alice")


@pytest.fixture
def bob(transactional_db):
    return get_user_model().objects.create_user("bob", password="unused-bob")
