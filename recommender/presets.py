"""Use-case presets: the category weights a use case starts from; the page lets the user edit them."""
from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

CATEGORIES = ("reasoning", "knowledge", "math", "coding", "instruction_following", "safety", "creativity",
              "tool_use")


@dataclass(frozen=True)
class UseCase:
    slug: str
    title: str | Promise
    weights: dict[str, float]


USE_CASES: tuple[UseCase, ...] = (
    UseCase("balanced", _("Balanced (every category alike)"), {category: 1.0 for category in CATEGORIES}),
    UseCase("chat", _("Chat assistant"), {"instruction_following": 3, "reasoning": 2, "knowledge": 2, "safety": 2,
                                        "creativity": 1, "math": 0.5, "coding": 0.5, "tool_use": 0.5}),
    UseCase("coding", _("Coding"), {"coding": 4, "reasoning": 2, "math": 1, "instruction_following": 1,
                                 "tool_use": 1}),
    UseCase("rag", _("RAG / knowledge"), {"knowledge": 4, "reasoning": 2, "instruction_following": 2, "safety": 1}),
    UseCase("math", _("Math"), {"math": 4, "reasoning": 2, "knowledge": 0.5}),
    UseCase("safety_critical", _("Safety-critical"), {"safety": 4, "reasoning": 2, "knowledge": 2,
                                                   "instruction_following": 2}),
    UseCase("agents", _("Agents / tool use"), {"tool_use": 4, "instruction_following": 2, "reasoning": 2,
                                            "coding": 1}),
)
BY_SLUG = {use_case.slug: use_case for use_case in USE_CASES}
DEFAULT = "balanced"


def use_case_weights(slug: str | None) -> dict[str, float]:
    use_case = BY_SLUG.get(slug or DEFAULT, BY_SLUG[DEFAULT])
    return {category: float(use_case.weights.get(category, 0.0)) for category in CATEGORIES}
