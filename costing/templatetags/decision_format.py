"""Formatting for the decision pages: figures that may be unknown, probabilities, axis values."""
from __future__ import annotations

from django import template

from benchsite.formats import localize_digits
from evaluations.models import category_label

register = template.Library()
UNKNOWN = "—"


@register.filter
def figure(value: float | None, unit: str = "") -> str:
    """Three significant figures (whole numbers from 100 up) with the unit ("$" leads), or a dash when unknown."""
    if value is None:
        return UNKNOWN
    magnitude = abs(value)
    digits = localize_digits(f"{magnitude:,.0f}" if magnitude >= 100 else f"{magnitude:.3g}")
    sign = "−" if value < 0 else ""
    if unit == "$":
        return f"{sign}${digits}"
    digits = sign + digits
    return f"{digits} {unit}".strip()


@register.filter
def percent(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value * 100:.0f}%"


@register.filter
def axis_value(candidate, axis: str) -> float | None:
    return candidate.axis(axis or "score")


@register.filter
def axis_title(axes: dict, axis: str) -> str:
    entry = axes.get(axis)
    return f"{entry[0]} ({entry[1]})" if entry else axis


@register.filter
def category_title(category: str) -> str:
    """instruction_following → instruction following (in the page's language)."""
    return category_label(category)
