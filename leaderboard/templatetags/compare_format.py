"""Formatting for the compare page: scores on their scale, signed differences, p-values."""
from __future__ import annotations

import math

from django import template
from django.utils.translation import pgettext

from benchsite.formats import localize_digits
from evaluations.compare import NOT_COMPARED, TIED, ModelResult, PairRow
from evaluations.models import category_label as _category_label
from evaluations.statistics import NO_TEST

register = template.Library()


def _on_scale(value: float, fraction: bool, signed: bool) -> str:
    """0–1 metrics in percentage points (one decimal), others (MT-Bench's 1–10) with two decimals."""
    number = value * 100 if fraction else value
    digits = 1 if fraction else 2
    return localize_digits(f"{number:+.{digits}f}" if signed else f"{number:.{digits}f}")


def _is_fraction(row: PairRow) -> bool:
    result = row.result_a or row.result_b
    return result is None or result.scale_max <= 1.0


@register.filter
def score(result: ModelResult | None) -> str:
    if result is None:
        return "—"
    return _on_scale(result.value, result.scale_max <= 1.0, signed=False)


@register.filter
def score_stderr(result: ModelResult | None) -> str:
    if result is None or result.stderr is None:
        return ""
    return "± " + _on_scale(result.stderr, result.scale_max <= 1.0, signed=False)


@register.simple_tag
def difference(row: PairRow, value: float | None, signed: bool = True) -> str:
    """A difference of this row's metric (Δ, a CI bound, the SE) on the metric's scale."""
    if value is None or math.isnan(value):
        return "—"
    return _on_scale(value, _is_fraction(row), signed=signed)


@register.filter
def pvalue(value: float | None) -> str:
    """Three decimals, or two significant digits below 0.001 (1.9e-06): small p-values stay legible."""
    if value is None:
        return "—"
    return localize_digits(f"{value:.3f}" if value >= 0.001 else f"{value:.1e}")


@register.filter
def correlation(value: float | None) -> str:
    return "—" if value is None else localize_digits(f"{value:.2f}")


@register.filter
def normalised(value: float | None) -> str:
    return "—" if value is None else localize_digits(f"{value * 100:.1f}")


@register.filter
def item_value(value: float | None) -> str:
    """Machine-readable (a data attribute's); item_value|decimal shows it."""
    if value is None:
        return "—"
    return f"{value:g}"


@register.filter
def decimal(text: str) -> str:
    return localize_digits(text)


@register.filter
def category_label(category: str) -> str:
    return _category_label(category)


@register.filter
def test_label(test: str) -> str:
    return pgettext("statistical test", "none") if test == NO_TEST else test


@register.filter
def verdict_label(verdict: str) -> str:
    """The page's words for the verdicts that stay English in data attributes and the API."""
    labels = {TIED: pgettext("verdict", "tied"), NOT_COMPARED: pgettext("verdict", "not compared")}
    return labels.get(verdict, verdict)


@register.filter
def get_score(scores: dict, model) -> float | None:
    """A model's entry in a {model id: value} dict (templates cannot index by a variable)."""
    return scores.get(model.pk)
