"""Community pieces other apps' pages show: a model's confirmed flags and the link to flag it."""
from __future__ import annotations

from django import template

from community import selectors

register = template.Library()


@register.inclusion_tag("community/_model_flags.html", takes_context=True)
def model_flags(context, model) -> dict:
    return {"model": model, "flags": selectors.confirmed_flags(model=model), "user": context.get("user")}
