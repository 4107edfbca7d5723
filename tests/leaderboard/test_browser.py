"""Drives real Chromium against the live server: sorting the leaderboard and filtering samples over HTMX."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse

from tests.leaderboard.conftest import ARC_SAMPLES, ASTRONOMY_SAMPLES, Board

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Chromium through Playwright. Ask for it after the fixtures that write to the database: ORM calls made
    while Playwright's event loop runs open a connection of their own, which the test teardown never closes."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; fixtures still use the ORM here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        page.set_default_timeout(10_000)
        yield page
        browser.close()


def mark_document(page) -> None:
    """Tag the current document so a full reload (which would drop the tag) can be told from an HTMX swap."""
    page.evaluate("window.__no_reload = true")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__no_reload === true"), "the page reloaded instead of swapping a fragment"


def test_sort_leaderboard_and_filter_samples(board: Board, live_server, page):
    from playwright.sync_api import expect

    page.goto(live_server.url + reverse("leaderboard:index"))
    rows = page.locator("#leaderboard-table tbody tr")
    expect(rows).to_have_count(3)
    assert [row.get_attribute("data-model") for row in rows.all()] == ["gamma", "beta", "alpha"]

    mark_document(page)
    page.get_by_role("link", name="GSM8K").click()
    expect(page.locator("th[aria-sort='descending'] a[data-column='gsm8k']")).to_be_visible()
    assert [row.get_attribute("data-model") for row in rows.all()] == ["beta", "alpha", "gamma"]
    page.get_by_role("link", name="GSM8K").click()
    expect(page.locator("th[aria-sort='ascending'] a[data-column='gsm8k']")).to_be_visible()
    assert [row.get_attribute("data-model") for row in rows.all()] == ["alpha", "beta", "gamma"]
    assert page.url.endswith(f"?suite={board.suite.pk}&sort=gsm8k&dir=asc")
    assert_not_reloaded(page)

    page.goto(live_server.url + reverse("leaderboard:run_detail", args=[board.alpha_run.pk]))
    samples = page.locator("#samples tbody.sample")
    expect(samples).to_have_count(50)
    expect(page.locator("#samples .samples-count")).to_contain_text(f"{ARC_SAMPLES + ASTRONOMY_SAMPLES} samples")

    mark_document(page)
    page.get_by_label("Outcome").select_option(label="Incorrect")
    incorrect = ARC_SAMPLES // 2 + ASTRONOMY_SAMPLES
    expect(page.locator("#samples .samples-count")).to_contain_text(f"{incorrect} samples")
    expect(samples).to_have_count(incorrect)
    assert {sample.get_attribute("data-correct") for sample in samples.all()} == {"false"}
    expect(page.locator("#samples .mark-correct")).to_have_count(0)
    assert "correct=false" in page.url
    assert_not_reloaded(page)

    first = samples.first
    first.locator("summary").click()
    expect(first.locator("details pre").first).to_contain_text("Question 1?")
