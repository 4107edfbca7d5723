"""How the decision pages print figures: unknown as a dash, money with its sign before the dollar."""
from __future__ import annotations

from costing.templatetags.decision_format import category_title, figure, percent


def test_figures_print_three_significant_digits_or_whole_numbers():
    assert figure(0.20833, "$") == "$0.208"
    assert figure(-389.2, "$") == "−$389"
    assert figure(2_628_000_000, "tokens/month") == "2,628,000,000 tokens/month"
    assert figure(3000.0, "ms") == "3,000 ms"
    assert figure(None, "$") == "—" and percent(None) == "—"
    assert percent(0.675) == "68%"
    assert category_title("instruction_following") == "instruction following"
