"""Real Chromium on the two decision pages: the recommendation and the cost calculator update live as inputs change.

Set BENCHSITE_SCREENSHOTS=<folder> to keep screenshots of the Pareto and tornado charts for a look.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.urls import reverse

from tests.leaderboard.test_browser import CHROMIUM, assert_not_reloaded, mark_document, page  # noqa: F401
from tests.recommender.conftest import Market

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]


def screenshot(page, name: str) -> None:  # noqa: F811
    folder = os.environ.get("BENCHSITE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_recommendation_and_costs_follow_the_inputs(market: Market, live_server, page):  # noqa: F811
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url + reverse("recommender:recommend") + "?hardware=test-cpu")
    rows = page.locator("#candidates tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("#pareto-chart .scatterlayer .point").first).to_be_attached()
    screenshot(page, "recommend")

    mark_document(page)
    page.get_by_label("Max memory (GB)").fill("10")
    page.get_by_label("Max memory (GB)").press("Tab")  # a change event, as a user leaving the field
    expect(rows).to_have_count(3)
    expect(page.locator('#excluded tr[data-model="huge"]')).to_contain_text("memory")
    page.get_by_label("Use case").select_option("math")
    expect(page.locator("#rec-w-math")).to_have_value("4")
    assert [row.get_attribute("data-model") for row in rows.all()][0] == "strong"
    assert "max_memory_gb=10" in page.url and "use_case=math" in page.url
    assert_not_reloaded(page)

    page.goto(live_server.url + reverse("costing:costs") + "?hardware=test-cpu&tokens_per_s=1000&utilization=1")
    headline = page.locator("#usd-per-1m")
    expect(headline).to_contain_text("$0.2 per 1M tokens")  # 0.72 / (1000 × 3600) × 10⁶
    expect(page.locator("#tornado-chart .barlayer").first).to_be_attached()
    screenshot(page, "costs")
    mark_document(page)
    page.get_by_label("Utilisation (0–1)").fill("0.5")
    page.get_by_label("Utilisation (0–1)").press("Tab")
    expect(headline).to_contain_text("$0.4 per 1M tokens")
    page.get_by_label("Tokens/s at full load").fill("0")
    page.get_by_label("Tokens/s at full load").press("Tab")
    expect(page.locator("#cost-errors")).to_contain_text("tokens_per_s")
    assert_not_reloaded(page)
