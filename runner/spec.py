"""What a benchmark is: a task spec (data, prompt template, scoring) and task groups.

Benchmarks are data plus a small spec, not a class each. `spec_hash` covers the spec and the source
of its template and scorer functions, so any change to how a prompt is built or scored changes the hash.
"""
from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import asdict, dataclass, field

from runner.datasets import DataSource
from runner.registry import SCORERS
from runner.templates import TEMPLATES

MULTIPLE_CHOICE = "multiple_choice"
GENERATE_UNTIL = "generate_until"


@dataclass(frozen=True)
class AnswerFilter:
    """A harness-style filter: a regex picks the answer out of generated text."""

    name: str
    pattern: str
    group_select: int = 0


@dataclass(frozen=True)
class TaskSpec:
    slug: str
    category: str
    version: str
    output_type: str
    template: str
    test: DataSource
    fewshot: DataSource | None = None
    fewshot_sampler: str = "default"  # "default" (seeded random, as the harness) or "first_n"
    default_num_fewshot: int = 0
    description: str = ""
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    metrics: tuple[str, ...] = ("acc",)
    until: tuple[str, ...] = ()
    max_new_tokens: int = 256
    filters: tuple[AnswerFilter, ...] = ()
    exact_match_options: dict = field(default_factory=dict)
    primary_metric: str = "acc"
    title: str = ""
    # Generation tasks scored by a function in runner.registry.SCORERS instead of `filters`.
    scorer: str = ""
    # Samples per item (pass@k needs n > 1, drawn at `temperature` with seeds seed, seed+1, ...).
    num_samples: int = 1
    temperature: float = 0.0
    # Wrap prompts in the model's chat template (instruction-following, chat and judge tasks).
    chat: bool = False
    # Scoring runs model-written code; refused unless settings.BENCHSITE_CODE_EXECUTION is on.
    requires_execution: bool = False
    # Metrics aggregated as a weighted mean instead of a plain one: {metric: weight metric}.
    weighted_metrics: dict = field(default_factory=dict)

    def spec_hash(self) -> str:
        payload = json.dumps(asdict(self), sort_keys=True, default=str)
        sources = [inspect.getsource(TEMPLATES[self.template])]
        if self.scorer:
            sources.append(inspect.getsource(SCORERS[self.scorer]))
        return hashlib.sha256("\n".join([payload, *sources]).encode()).hexdigest()


@dataclass(frozen=True)
class TaskGroup:
    slug: str
    category: str
    members: tuple[str, ...]
    title: str = ""
    primary_metric: str = "acc"
    aggregation: str = ""  # a name in runner.registry.AGGREGATIONS; "" pools the members' metrics by size
