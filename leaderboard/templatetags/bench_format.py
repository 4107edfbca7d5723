"""Formatting for scores and query strings on the leaderboard pages."""
from __future__ import annotations

import json
from typing import Any

from django import template
from django.http import HttpRequest

from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from benchsite.formats import localize_digits
from leaderboard.selectors import LINEAGE_BASE, LINEAGE_DERIVED, SORT_MODEL, Leaderboard

register = template.Library()


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """A 0–1 metric as a percentage without the sign: 0.6128 → "61.3"."""
    if value is None:
        return ""
    return localize_digits(f"{value * 100:.{digits}f}")


@register.filter
def local_digits(value: str) -> str:
    """A figure already written with a decimal point (a run's spend, "$0.000468"), in the page's language."""
    return localize_digits(str(value))


# leaderboard.selectors.LINEAGE_FILTERS's labels, in the page's language (the values stay in the URL).
LINEAGE_LABELS = {LINEAGE_BASE: _("Base models only"), LINEAGE_DERIVED: _("Fine-tunes, merges, adapters, quantizations")}


@register.filter
def lineage_label(value: str, label: str = "") -> str:
    return str(LINEAGE_LABELS.get(value, label))


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@register.simple_tag
def sort_query(board: Leaderboard, key: str) -> str:
    """The query string a column header links to: the current column flips, others start at their natural order."""
    if board.sort == key:
        direction = "asc" if board.descending else "desc"
    else:
        direction = "asc" if key == SORT_MODEL else "desc"
    suite = f"suite={board.suite.pk}&" if board.suite else ""
    lineage = f"lineage={board.lineage}&" if board.lineage else ""
    return f"?{suite}{lineage}sort={key}&dir={direction}"


@register.simple_tag
def aria_sort(board: Leaderboard, key: str) -> str:
    if board.sort != key:
        return "none"
    return "descending" if board.descending else "ascending"


@register.simple_tag(takes_context=True)
def query_with(context: dict[str, Any], **changes: Any) -> str:
    """The current query string with some parameters replaced (empty values are dropped)."""
    request: HttpRequest = context["request"]
    query = request.GET.copy()
    for name, value in changes.items():
        query.pop(name, None)
        if value not in (None, ""):
            query[name] = str(value)
    return f"?{query.urlencode()}" if query else "?"


@register.filter
def parameters(count: int | None) -> str:
    """A parameter count the way model cards write it: 494032768 → "494M", 1543714304 → "1.5B"."""
    if not count:
        return ""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= size:
            return localize_digits(f"{count / size:.3g}") + suffix
    return str(count)


@register.simple_tag(takes_context=True)
def board_cell(context: template.Context, cell, model_slug: str) -> str:
    """One leaderboard cell as a <td>: thousands of these make a page, so built here rather than in template tags
    (a 100 × 30 board renders in tens of milliseconds instead of seconds)."""
    shared = context.render_context.get("board_cell")
    if shared is None:
        from django.urls import reverse
        from django.utils import formats

        shared = context.render_context["board_cell"] = {
            "run_url": reverse("leaderboard:run_detail", args=[0]).replace("/0/", "/{}/"),
            "model_url": reverse("leaderboard:model_detail", args=["-"]).replace("/-/", "/{}/"),
            "decimal": formats.get_format("DECIMAL_SEPARATOR"),
            "not_evaluated": gettext("Not evaluated"), "regression": gettext("regression"),
            "regression_title": gettext("Significantly worse than this model's previous run of the same "
                                        "configuration"),
        }
    if cell is None:
        return format_html('<td class="num empty" title="{}">—</td>', shared["not_evaluated"])
    decimal = shared["decimal"]

    def number(value: float, spec: str) -> str:
        return format(value, spec).replace(".", decimal)

    title = ngettext("n = %(counter)s item (run %(run)s)", "n = %(counter)s items (run %(run)s)", cell.n) % {
        "counter": cell.n, "run": cell.run_id}
    link = shared["run_url"].format(cell.run_id)
    if cell.is_fraction:
        body = format_html('<a href="{}">{}</a>', link, number(cell.value * 100, ".1f"))
        if cell.stderr is not None:
            body += format_html(' <span class="stderr">± {}</span>', number(cell.stderr * 100, ".1f"))
    else:
        body = format_html('<a href="{}">{}</a><span class="muted small"> / {}</span>', link,
                           number(cell.value, ".2f"), number(cell.scale_max, ".0f"))
        if cell.stderr is not None:
            body += format_html(' <span class="stderr">± {}</span>', number(cell.stderr, ".2f"))
    if cell.regressed:
        body += format_html(' <a class="regressed" href="{}#regressions" title="{}">▼ {}</a>',
                            shared["model_url"].format(model_slug), shared["regression_title"],
                            shared["regression"])
    return format_html('<td class="num{}" title="{}">{}</td>', " cell-small" if cell.is_subset else "", title, body)
