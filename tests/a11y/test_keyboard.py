"""Keyboard only, in real Chromium: sort, filter and page the leaderboard, compare two models, get a recommendation.

No clicks: Tab, Shift+Tab, Enter, Space, arrow keys and typing. At every focus stop the focused element must be
on screen and show a focus indicator (a computed outline or box-shadow).
"""
from __future__ import annotations

import importlib
import re

import pytest
from django.urls import reverse

from tests.a11y.test_pages import browser  # noqa: F401  (the fixture)
from tests.leaderboard.conftest import Board, board  # noqa: F401  (the fixture)
from tests.leaderboard.factories import ModelEntryFactory, finished_run
from tests.leaderboard.test_browser import CHROMIUM, assert_not_reloaded, mark_document

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]
TAB_LIMIT = 80  # focus stops tried before giving up on reaching a control

# What the focused element is and whether a sighted keyboard user can see it and see that it has focus.
FOCUS_STATE = """() => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return null;
  const s = getComputedStyle(e);
  const r = e.getBoundingClientRect();
  const x = Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1);
  const y = Math.min(Math.max(r.top + r.height / 2, 0), innerHeight - 1);
  const top = document.elementFromPoint(x, y);
  return {
    description: e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.name ? '[name=' + e.name + ']' : '')
                 + ' "' + (e.innerText || e.value || '').trim().slice(0, 40) + '"',
    tag: e.tagName.toLowerCase(), id: e.id, name: e.name || '', text: (e.innerText || '').trim(),
    column: e.dataset.column || '', rel: e.rel || '',
    onScreen: r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth
              && top !== null && (top === e || e.contains(top) || top.contains(e)),
    indicated: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none',
  };
}"""


def focus_state(page) -> dict | None:
    return page.evaluate(FOCUS_STATE)


def assert_focus_shown(page) -> dict:
    state = focus_state(page)
    assert state is not None, "focus was lost (nothing is focused)"
    assert state["onScreen"], f"the focused {state['description']} is not on screen"
    assert state["indicated"], f"the focused {state['description']} shows no focus indicator"
    return state


def tab_to(page, wanted, *, backwards: bool = False) -> dict:
    """Press Tab (Shift+Tab) until `wanted(state)` holds, checking every stop on the way is visibly focused."""
    for _ in range(TAB_LIMIT):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        state = focus_state(page)
        if state is None:
            continue  # the document itself between the last control and the address bar
        assert_focus_shown(page)
        if wanted(state):
            return state
    raise AssertionError(f"no focus stop matched within {TAB_LIMIT} presses of {'Shift+' if backwards else ''}Tab")


def wait_for_settle(page) -> None:
    page.wait_for_load_state("networkidle")
    # A function, not an expression: Playwright evals an expression inside the page, which the CSP forbids.
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')")


def leaderboard_models(page) -> list[str]:
    return [row.get_attribute("data-model") for row in page.locator("#leaderboard-table tbody tr").all()]


def test_leaderboard_sort_filter_and_pages_by_keyboard(board: Board, live_server, browser, settings):  # noqa: F811
    from playwright.sync_api import expect

    settings.BENCHSITE_LEADERBOARD_PAGE_SIZE = 1
    board.beta.base_model = board.alpha  # a fine-tune, for the "base models only" filter to hide
    board.beta.save(update_fields=["base_model"])
    finished_run(ModelEntryFactory(name="delta"), {"gsm8k": 0.5})  # a third base model: "Next" on page 2 too
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(10_000)
    page.goto(live_server.url + reverse("leaderboard:index"))
    mark_document(page)
    expect(page.locator("nav.pagination")).to_contain_text("1–1 of 4")
    assert leaderboard_models(page) == ["gamma"]

    # Sort: the GSM8K header is a link; Enter sorts (descending), and focus stays on it for a second Enter.
    tab_to(page, lambda state: state["column"] == "gsm8k")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"sort=gsm8k"))
    expect(page.locator("th[aria-sort='descending'] a[data-column='gsm8k']")).to_be_visible()
    wait_for_settle(page)
    assert leaderboard_models(page) == ["beta"]
    assert assert_focus_shown(page)["column"] == "gsm8k", "focus left the sort link after sorting"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"sort=gsm8k&dir=asc"))
    wait_for_settle(page)
    assert leaderboard_models(page) == ["alpha"]

    # Filter: back to the "Models" select; an arrow key picks "Base models only" and the table follows.
    tab_to(page, lambda state: state["id"] == "lineage", backwards=True)
    page.keyboard.press("ArrowDown")
    expect(page).to_have_url(re.compile(r"lineage=base"))
    wait_for_settle(page)
    expect(page.locator("nav.pagination")).to_contain_text("1–1 of 3")
    assert leaderboard_models(page) == ["alpha"]
    assert assert_focus_shown(page)["id"] == "lineage", "focus left the filter after filtering"

    # Pages: forward to "Next", Enter: the second page of base models sorted by GSM8K ascending, focus still on
    # "Next"; Shift+Tab to "Previous" and back to the first.
    tab_to(page, lambda state: state["rel"] == "next")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator("nav.pagination")).to_contain_text("2–2 of 3")
    wait_for_settle(page)
    assert leaderboard_models(page) == ["delta"]
    assert "sort=gsm8k" in page.url and "dir=asc" in page.url and "lineage=base" in page.url
    assert assert_focus_shown(page)["rel"] == "next", "focus left the pagination after paging"
    tab_to(page, lambda state: state["rel"] == "prev", backwards=True)
    page.keyboard.press("Enter")
    expect(page.locator("nav.pagination")).to_contain_text("1–1 of 3")
    wait_for_settle(page)
    assert leaderboard_models(page) == ["alpha"]
    assert_not_reloaded(page)


def test_compare_two_models_by_keyboard(board: Board, live_server, browser):  # noqa: F811
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(10_000)
    page.goto(live_server.url + reverse("leaderboard:compare"))
    expect(page.locator("section.pair")).to_have_count(0)

    tab_to(page, lambda state: state["id"] == "compare-model-1")
    page.keyboard.type("alpha")  # type-ahead picks the option
    tab_to(page, lambda state: state["id"] == "compare-model-2")
    page.keyboard.type("beta")
    tab_to(page, lambda state: state["tag"] == "button" and state["text"] == "Compare")
    page.keyboard.press("Space")
    expect(page).to_have_url(re.compile(r"models=alpha(%2C|,)beta"))
    expect(page.locator("section.pair[data-pair='alpha-beta']")).to_be_visible()
    expect(page.locator("section.pair tr[data-benchmark='arc_easy']")).to_be_visible()
    wait_for_settle(page)
    assert assert_focus_shown(page)["text"] == "Compare", "focus left the Compare button"


@pytest.fixture
def hardware_catalogue(db) -> None:
    """The catalogue's starting set, as its data migration writes it: an earlier transactional test flushed it."""
    from django.apps import apps

    importlib.import_module("costing.migrations.0002_seed_hardware").seed(apps, None)


def test_recommendation_by_keyboard(board: Board, hardware_catalogue, live_server, browser):  # noqa: F811
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(20_000)
    page.goto(live_server.url + reverse("recommender:recommend"))
    heading = page.locator("#candidates-heading")
    expect(heading).to_be_visible()
    before = heading.inner_text()

    tab_to(page, lambda state: state["id"] == "rec-use-case")
    page.keyboard.press("ArrowDown")  # the next use case: its weights replace the form's
    expect(page).to_have_url(re.compile(r"use_case="))
    wait_for_settle(page)
    assert assert_focus_shown(page)["id"] == "rec-use-case", "focus left the use case after the form was replaced"

    tab_to(page, lambda state: state["id"] == "rec-memory")
    page.keyboard.type("0.001")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"max_memory_gb=0.001"))
    expect(heading).to_contain_text("0 models")
    assert heading.inner_text() != before
    expect(page.locator("#recommend-results")).to_contain_text("memory")
    wait_for_settle(page)
    assert_focus_shown(page)
