"""German pages in Chromium: the plotly charts draw from the same JSON (dot decimals) and the switcher works
without JavaScript's help."""
from __future__ import annotations

import pytest
from django.urls import reverse

from tests.a11y.test_pages import browser  # noqa: F401  (the fixture)
from tests.leaderboard.conftest import Board, board  # noqa: F401  (the fixture)
from tests.leaderboard.test_browser import CHROMIUM

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]


def test_charts_draw_on_german_pages_and_the_switcher_goes_back_to_english(board: Board, live_server,  # noqa: F811
                                                                           browser):  # noqa: F811
    context = browser.new_context(locale="de-DE")  # Accept-Language: de-DE
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    for path, chart in ((reverse("leaderboard:index"), "heatmap"),
                        (reverse("leaderboard:compare") + f"?models={board.alpha.slug},{board.beta.slug}", "radar")):
        page.goto(live_server.url + path)
        assert page.locator("html").get_attribute("lang") == "de"
        page.wait_for_selector(f'figure[data-chart="{chart}"] .main-svg', timeout=15000)
    assert not errors, errors

    page.goto(live_server.url + reverse("leaderboard:index"))
    page.select_option("#language-select", "en")
    page.click(".language-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Leaderboard"
    context.close()
