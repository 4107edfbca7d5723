"""Real Chromium: a person uploads a GGUF through the form and watches its status page, which follows the
moderator's rejection (and its reason) without a reload."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from community.models import Submission
from tests.community.files import gguf_bytes
from tests.leaderboard.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def signed_in_page(browser, live_server, user):
    client = Client()
    client.force_login(user)
    context = browser.new_context()
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                          "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def test_upload_then_a_rejection_appears_on_the_open_status_page(people, live_server, browser, tmp_path):
    from playwright.sync_api import expect

    weights = tmp_path / "tiny-model.gguf"
    weights.write_bytes(gguf_bytes())
    alice = signed_in_page(browser, live_server, people["alice"])
    alice.goto(live_server.url + reverse("community:submission_new"))
    alice.get_by_label("Name").fill("Browser Tiny")
    alice.get_by_label("Weights file").set_input_files(str(weights))
    alice.get_by_label("Licence", exact=True).select_option("apache-2.0")
    alice.get_by_label("I own these weights").check()
    alice.get_by_role("button", name="Submit").click()
    expect(alice.locator(".submission-state [data-state]")).to_have_attribute("data-state", "validated")
    expect(alice.locator(".submission-events")).to_contain_text("GGUF v3, 1 tensors, llama")
    alice.evaluate("window.__no_reload = true")

    moderator = signed_in_page(browser, live_server, people["mod"])
    moderator.goto(live_server.url + reverse("community:moderation"))
    row = moderator.locator(f"tr[data-submission='{Submission.objects.get().pk}']")
    row.get_by_role("textbox").fill("Duplicate of an existing model.")
    row.get_by_role("button", name="Reject").click()
    expect(moderator.locator(".messages")).to_contain_text("rejected")

    # The open status page polls while the submission can still move, and stops once it is final.
    expect(alice.locator(".submission-state [data-state]")).to_have_attribute("data-state", "rejected")
    expect(alice.locator(".state-reason")).to_contain_text("Duplicate of an existing model.")
    assert alice.evaluate("window.__no_reload === true")
    assert alice.locator("#submission-status[hx-trigger]").count() == 0
    alice.screenshot(path=str(tmp_path / "status.png"), full_page=True)
