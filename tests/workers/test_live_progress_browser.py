"""Chromium watches a run page served by daphne while a real Celery worker evaluates: the counter moves."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from evaluations.services import model_entries, plans, runs
from evaluations.models import RunStatus
from tests.leaderboard.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.workers.conftest import REPO, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def daphne(cluster):
    port = free_port()
    log = open(cluster.logs / "daphne.log", "ab")
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "benchsite.asgi:application"],
        cwd=REPO, env=cluster.env, stdout=log, stderr=subprocess.STDOUT,
    )

    def listening() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_for(listening, 60, "daphne to listen")
    yield f"http://127.0.0.1:{port}"
    server.kill()
    server.wait(timeout=10)


def test_run_page_counter_moves_while_a_worker_evaluates(cluster, daphne, monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    model = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    plan = plans.run_plan(model=model, backend="llama_cpp", benchmarks=["arc_easy"], limit=120)
    run, _ = runs.run_submit(plan=plan)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        page.goto(f"{daphne}/runs/{run.pk}/")
        counter = page.locator("#run-done")
        assert counter.inner_text().strip() == "0 / 120"
        page.evaluate("window.__sameDocument = true")
        cluster.start_worker("w1")
        seen = []

        def counter_moved() -> bool:
            text = counter.inner_text().strip()
            if not seen or seen[-1] != text:
                seen.append(text)
            return len(seen) >= 3

        wait_for(counter_moved, 180, "the counter to move twice", interval=0.2)
        done_values = [int(text.split("/")[0]) for text in seen]
        assert done_values == sorted(done_values) and done_values[-1] > 0
        assert page.evaluate("window.__sameDocument") is True  # updated over the socket, no reload
        browser.close()
    run.refresh_from_db()
    assert run.status in (RunStatus.RUNNING, RunStatus.FINISHED)
    assert run.done >= done_values[-1]
