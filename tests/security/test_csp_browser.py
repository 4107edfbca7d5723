"""Real Chromium with the site's Content-Security-Policy on: the pages with charts, HTMX swaps and the API docs run
without a single violation, the charts draw, and HTMX's POST passes CSRF protection as a browser sends it."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.a11y.test_pages import browser  # noqa: F401  (the fixture: Chromium, one context per role here)
from tests.leaderboard.conftest import Board, board  # noqa: F401  (the fixture)
from tests.leaderboard.test_browser import CHROMIUM
from tests.recommender.conftest import Market, market  # noqa: F401  (the fixture)

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
# Injected through the DevTools protocol (not subject to the page's CSP): every violation event, whatever the console
# shows, lands in window.__cspViolations.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e =>
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`));
"""

# Blocks the policy is meant to make, and nothing else: Redoc's bundle always loads its maker's logo from their CDN
# (the image hides itself when it fails); the site sends no reader's address to a third party.
INTENDED_BLOCKS = ("https://cdn.redoc.ly/redoc/logo-mini.svg",)


class Watched:
    """A page whose CSP violations, from the console and from violation events, are collected as it goes."""

    def __init__(self, page) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", lambda message: self.console.append(message.text)
                if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text else None)
        page.add_init_script(RECORD_VIOLATIONS)

    def visit(self, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.status == 200, f"{url}: HTTP {response and response.status}"
        assert "script-src 'self'" in response.headers["content-security-policy"]
        self.page.wait_for_load_state("networkidle")

    def violations(self) -> list[str]:
        seen = self.console + self.page.evaluate("window.__cspViolations || []")
        return [line for line in seen if not any(url in line for url in INTENDED_BLOCKS)]


@pytest.fixture
def member_session(db) -> str:
    """A signed-in member's session cookie, made before the browser starts (see tests/leaderboard/test_browser.py)."""
    client = Client()
    client.force_login(get_user_model().objects.create_user("carol", "carol@example.org", None))
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def watched_page(browser, live_server, session: str | None = None) -> Watched:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    if session is not None:
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15_000)
    return Watched(page)


def test_the_recorder_sees_a_blocked_inline_script(db, live_server, browser):
    """The check below would pass vacuously if violations went unseen: an inline script must be caught."""
    watched = watched_page(browser, live_server)
    watched.visit(live_server.url + reverse("community:benchmark_list"))
    watched.page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';
                                     document.body.appendChild(s); }""")
    watched.page.wait_for_timeout(200)
    assert watched.page.evaluate("window.__ran") is None
    assert any("script-src" in line for line in watched.violations())


def test_board_pages_draw_their_charts_without_a_violation(board: Board, live_server, browser):  # noqa: F811
    from playwright.sync_api import expect

    watched = watched_page(browser, live_server)
    page = watched.page
    watched.visit(live_server.url + reverse("leaderboard:index"))
    expect(page.locator("#leaderboard-heatmap .main-svg").first).to_be_visible()
    page.evaluate("window.__no_reload = true")
    page.get_by_role("link", name="GSM8K").click()  # an HTMX swap brings new charts, drawn by charts.js
    expect(page.locator("th[aria-sort='descending'] a[data-column='gsm8k']")).to_be_visible()
    expect(page.locator("#leaderboard-heatmap .main-svg").first).to_be_visible()
    assert page.evaluate("window.__no_reload === true")

    watched.visit(live_server.url + reverse("leaderboard:compare") + f"?models={board.alpha.slug},{board.beta.slug}")
    expect(page.locator("#radar-chart .main-svg").first).to_be_visible()
    watched.visit(live_server.url + reverse("leaderboard:model_detail", args=[board.alpha.slug]))
    expect(page.locator("#model-radar .main-svg").first).to_be_visible()
    watched.visit(live_server.url + reverse("leaderboard:run_detail", args=[board.alpha_run.pk]))
    page.get_by_label("Outcome").select_option(label="Incorrect")
    expect(page.locator("#samples tbody.sample")).to_have_count(30 + 5)
    watched.visit(live_server.url + reverse("api-docs"))  # Swagger UI starts from its ?script file
    expect(page.locator("#swagger-ui .opblock").first).to_be_visible()
    watched.visit(live_server.url + reverse("api-redoc"))
    expect(page.locator(".api-content").first).to_be_attached()
    assert not watched.violations(), "\n".join(watched.violations())


def test_decision_pages_draw_their_charts_without_a_violation(market: Market, live_server, browser):  # noqa: F811
    from playwright.sync_api import expect

    watched = watched_page(browser, live_server)
    page = watched.page
    watched.visit(live_server.url + reverse("recommender:recommend") + "?hardware=test-cpu")
    expect(page.locator("#pareto-chart .main-svg").first).to_be_visible()
    # The use case swaps the whole form (and its weights) without also firing the form's own request.
    page.get_by_label("Use case").select_option("math")
    expect(page.locator("#rec-w-math")).to_have_value("4")
    expect(page.locator("#pareto-chart .main-svg").first).to_be_visible()
    watched.visit(live_server.url + reverse("costing:costs") + "?hardware=test-cpu&tokens_per_s=1000&utilization=1")
    expect(page.locator("#tornado-chart .main-svg").first).to_be_visible()
    assert not watched.violations(), "\n".join(watched.violations())


def test_htmx_post_passes_csrf_as_a_browser_sends_it(member_session, live_server, browser, tmp_path, settings):
    """The live server enforces CSRF (only the test Client skips it): HTMX's Check posts the form's token."""
    from playwright.sync_api import expect

    settings.VAR_DIR = tmp_path / "var"
    settings.BENCHSITE_UPLOAD_DIR = tmp_path / "uploads"
    watched = watched_page(browser, live_server, member_session)
    page = watched.page
    watched.visit(live_server.url + reverse("community:benchmark_new"))
    page.get_by_label("Spec (.yaml, .yml or .json)").set_input_files(str(EXAMPLES / "capitals.yaml"))
    page.get_by_label("Items (JSONL)").set_input_files(str(EXAMPLES / "capitals.jsonl"))
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        page.get_by_role("button", name="Check").click()
    assert posted.value.status == 200 and posted.value.request.headers.get("hx-request") == "true"
    expect(page.locator("#benchmark-report .benchmark-preview")).to_contain_text("Valid:")
    # The same POST without the token is refused: the 200 above is CSRF passing, not CSRF off.
    refused = page.request.post(live_server.url + reverse("community:benchmark_new"),
                                multipart={"action": "check"}, headers={"HX-Request": "true"})
    assert refused.status == 403
    assert not watched.violations(), "\n".join(watched.violations())
