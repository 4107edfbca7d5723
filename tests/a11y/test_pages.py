"""Every page in real Chromium, checked by axe-core (WCAG 2.1 A/AA rules) and at a phone's width.

Logged out, as a user and as staff: no serious or critical axe violation, and at 390 × 844 no page scrolls
sideways (wide tables scroll inside their own container).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.leaderboard.conftest import Board, board  # noqa: F401  (the fixture)
from tests.leaderboard.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE = {"width": 390, "height": 844}
# The innermost elements that stick out past the right edge: what to fix when a page scrolls sideways.
WIDEST_ELEMENTS = """() => {
  const edge = document.documentElement.clientWidth;
  const out = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > edge + 1);
  return out.filter(e => !out.some(o => o !== e && e.contains(o))).slice(0, 4)
    .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + String(e.className).split(' ').join('.') : '')
              + ' ' + Math.round(e.getBoundingClientRect().width) + 'px').join(', ');
}"""


def axe_script() -> Path:
    import axe_playwright_python

    return Path(axe_playwright_python.__file__).parent / "axe.min.js"


def public_pages(board: Board) -> list[str]:
    alpha = board.alpha
    return [
        reverse("leaderboard:index"),
        reverse("leaderboard:model_list"),
        reverse("leaderboard:model_detail", args=[alpha.slug]),
        reverse("leaderboard:run_list"),
        reverse("leaderboard:run_detail", args=[board.alpha_run.pk]),
        reverse("leaderboard:compare") + f"?models={board.alpha.slug},{board.beta.slug}",
        reverse("leaderboard:performance"),
        reverse("leaderboard:live_runs"),
        reverse("leaderboard:worker_list"),
        reverse("leaderboard:keys"),
        reverse("recommender:recommend"),
        reverse("costing:costs"),
        reverse("community:benchmark_list"),
        reverse("community:submission_list"),
        reverse("account_login"),
        reverse("account_signup"),
        reverse("account_reset_password"),
    ]


def member_pages() -> list[str]:
    return [reverse("community:profile"), reverse("community:submission_new"), reverse("community:benchmark_new")]


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def audit(page, url: str) -> list[str]:
    """Serious and critical axe violations of the page at url, and a sideways scroll at phone width."""
    problems = []
    page.set_viewport_size({"width": 1280, "height": 900})
    response = page.goto(url)
    assert response is not None and response.status == 200, f"{url}: HTTP {response and response.status}"
    page.wait_for_load_state("networkidle")
    page.add_script_tag(path=str(axe_script()))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    for violation in result["violations"]:
        if violation["impact"] in ("serious", "critical"):
            targets = "; ".join(", ".join(node["target"]) for node in violation["nodes"][:3])
            problems.append(f"{url}: {violation['id']} ({violation['impact']}) {violation['help']} — {targets}")
    page.set_viewport_size(PHONE)  # the same document, laid out again at a phone's width
    page.wait_for_timeout(400)  # responsive charts redraw on the resize event, debounced
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 1:
        problems.append(f"{url} @390px: the page scrolls sideways by {overflow}px ({page.evaluate(WIDEST_ELEMENTS)})")
    return problems


def log_in(page, live_server, user) -> None:
    page.goto(live_server.url + reverse("account_login"))
    page.fill("input[name=login]", user.username)
    page.fill("input[name=password]", "pw")
    page.click("form [type=submit]")
    page.wait_for_load_state("networkidle")


def test_every_page_passes_axe_and_fits_a_phone(board, live_server, browser):  # noqa: F811
    users = get_user_model().objects
    member = users.create_user("member", "member@example.org", "pw")
    staff = users.create_user("moderator", "moderator@example.org", "pw", is_staff=True)
    from allauth.account.models import EmailAddress

    for user in (member, staff):
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    problems: list[str] = []
    # axe-core goes in as an inline <script>, which the site's Content-Security-Policy (rightly) blocks; the policy
    # itself is tested in tests/security/test_csp_browser.py.
    anonymous = browser.new_page(bypass_csp=True)
    for path in public_pages(board):
        problems += audit(anonymous, live_server.url + path)
    for user, extra in ((member, member_pages()), (staff, [reverse("community:moderation")])):
        context = browser.new_context(bypass_csp=True)
        page = context.new_page()
        log_in(page, live_server, user)
        for path in [reverse("leaderboard:index"), *extra]:
            problems += audit(page, live_server.url + path)
        context.close()
    assert not problems, "\n".join(problems)
