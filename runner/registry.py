"""Name → function registries for prompt templates and generation scorers.

Task specs name their template and scorer as strings, so a spec stays plain data (hashable, storable)
and modules in `runner/benchmarks/` add their own functions with the decorators below.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:
    from runner.backends.base import Backend
    from runner.templates import Doc


JUDGE_MAX_NEW_TOKENS = 2048  # FastChat's judge budget


@dataclass
class ScoreContext:
    """What a scorer may need beyond the item and the model's outputs."""

    judge: Backend | None = None  # the judge model for LLM-judged tasks (MT-Bench, creativity rubric)
    judge_name: str = ""  # stored with every judged score
    judge_max_new_tokens: int = JUDGE_MAX_NEW_TOKENS  # a run's --max-new-tokens caps the judge too
    allow_execution: bool = False  # settings.BENCHSITE_CODE_EXECUTION
    execution_timeout_s: float = 10.0
    execution_memory_mb: int = 1024


@dataclass
class ScoreResult:
    metrics: dict[str, float]
    prediction: str = ""  # what the sample browser shows as the model's answer
    details: dict = field(default_factory=dict)  # per-check verdicts, judge output, test logs


F = TypeVar("F", bound=Callable)
Template = Callable[[dict], "Doc"]
Scorer = Callable[["Doc", list[str], ScoreContext], ScoreResult]

TEMPLATES: dict[str, Template] = {}
SCORERS: dict[str, Scorer] = {}
# A group's own way of combining its members' scores ({member slug: {metric: Aggregate}} -> {metric: Aggregate});
# groups without one pool their members' metrics by size.
AGGREGATIONS: dict[str, Callable] = {}


def registrar(table: dict[str, F], kind: str) -> Callable[[str], Callable[[F], F]]:
    """A decorator factory that adds functions to `table` by name, refusing duplicates."""

    def by_name(name: str) -> Callable[[F], F]:
        def register(function: F) -> F:
            if name in table:
                raise ValueError(f"{kind} {name!r} registered twice")
            table[name] = function
            return function

        return register

    return by_name


template = registrar(TEMPLATES, "template")
scorer = registrar(SCORERS, "scorer")
aggregation = registrar(AGGREGATIONS, "aggregation")
