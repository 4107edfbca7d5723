"""Community pieces other apps' pages show: a model's confirmed flags and the link to flag it."""
from __future__ import annotations

from django import template

from community import selectors
from community.models import BenchmarkSubmission, SubmissionState
from evaluations.models import category_label as _category_label

register = template.Library()


@register.filter
def state_label(state: str) -> str:
    """A submission state's name in the page's language (the value stays English in URLs and data attributes)."""
    return SubmissionState(state).label if state in SubmissionState.values else state


@register.filter
def benchmark_state_label(state: str) -> str:
    return BenchmarkSubmission.State(state).label if state in BenchmarkSubmission.State.values else state


@register.filter
def category_label(category: str) -> str:
    return _category_label(category)


@register.inclusion_tag("community/_model_flags.html", takes_context=True)
def model_flags(context, model) -> dict:
    return {"model": model, "flags": selectors.confirmed_flags(model=model), "user": context.get("user")}
