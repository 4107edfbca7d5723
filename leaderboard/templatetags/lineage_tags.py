"""The lineage tree of a model (base → fine-tunes, merges, adapters, quantizations), drawn on its page."""
from __future__ import annotations

from django import template

from evaluations.models import ModelEntry
from leaderboard.finetunes import model_lineage

register = template.Library()


@register.inclusion_tag("leaderboard/_lineage.html")
def lineage_tree(model: ModelEntry) -> dict:
    return {"root": model_lineage(model), "model": model}
