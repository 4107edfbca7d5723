"""Suites: which benchmarks, on which items, with which few-shot and chat policy, make one comparable board.

A benchmark result counts for a suite only when its configuration key equals the suite's for that
benchmark. The key covers the task spec hash (prompt, split, metric, scorer source), the item selection
(first N rows or all, and how many there were), the few-shot count, the chat-template policy and, for
judged tasks, the judge. The model's backend and preset are not part of it: they are properties of the
model's run, shown beside the score.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

STANDARD_BENCHMARKS = ("arc_easy", "arc_challenge", "hellaswag", "mmlu", "winogrande", "gsm8k")


@dataclass(frozen=True)
class SuiteSpec:
    slug: str
    title: str
    description: str
    limits: dict[str, int | None]  # requested slug (a group for MMLU) -> first N items of each task, None: all
    num_fewshot: int | None = None  # None: each benchmark's standard
    chat_template: bool = False

    @property
    def benchmarks(self) -> list[str]:
        return list(self.limits)


STANDARD = SuiteSpec(
    "standard",
    "Standard suite",
    "Every item of the six default benchmarks, each with its standard few-shot count, prompts as the harness.",
    {slug: None for slug in STANDARD_BENCHMARKS},
)
# First N rows of each evaluation split (MMLU: of each of its 57 subjects); small enough for two CPU cores.
DEMO = SuiteSpec(
    "demo",
    "Demo suite",
    "The default benchmarks on their first rows (MMLU: 2 per subject; BFCL: 2 per category), so it finishes in "
    "minutes on a laptop.",
    {"arc_easy": 100, "arc_challenge": 100, "hellaswag": 50, "mmlu": 2, "winogrande": 100, "gsm8k": 10, "bfcl": 2},
)
# Knowledge domains as groups of MMLU subjects, every item at the standard 5 shots: a model's standard-suite MMLU
# run has the same configuration keys, so it counts on these boards without running again.
DOMAIN_SUBJECTS: dict[str, tuple[str, ...]] = {
    "medical": ("anatomy", "clinical_knowledge", "college_medicine", "medical_genetics", "nutrition",
                "professional_medicine", "virology", "human_aging"),
    "legal": ("international_law", "jurisprudence", "professional_law"),
    "financial": ("professional_accounting", "econometrics", "high_school_macroeconomics",
                  "high_school_microeconomics"),
    "scientific": ("astronomy", "college_biology", "college_chemistry", "college_physics", "conceptual_physics",
                   "high_school_biology", "high_school_chemistry", "high_school_physics"),
}
DOMAIN_SUITES = tuple(
    SuiteSpec(f"domain-{domain}", f"{domain.title()} knowledge",
              f"MMLU's {domain} subjects ({', '.join(s.replace('_', ' ') for s in subjects)}), every item, 5 shots.",
              {f"mmlu_{subject}": None for subject in subjects})
    for domain, subjects in DOMAIN_SUBJECTS.items()
)
SUITES: dict[str, SuiteSpec] = {suite.slug: suite for suite in (STANDARD, DEMO, *DOMAIN_SUITES)}


def task_config_key(
    *, slug: str, spec_hash: str, limit: int | None, items: int, num_fewshot: int, chat_template: bool,
    judge: str = "", adaptive: dict | None = None,
) -> str:
    """The identity of one benchmark's configuration: equal keys mean comparable scores.

    An adaptive run's (stopped early on a random subset) is its own configuration, never a full run's.
    """
    fields = {"slug": slug, "spec_hash": spec_hash, "limit": limit, "items": items, "num_fewshot": num_fewshot,
              "chat_template": chat_template, "judge": judge, **({"adaptive": adaptive} if adaptive else {})}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def group_config_key(*, slug: str, member_keys: list[str]) -> str:
    return hashlib.sha256(json.dumps([slug, sorted(member_keys)]).encode()).hexdigest()


def suite_version(entries: dict[str, str]) -> str:
    """A suite's version: the hash of its benchmarks' configuration keys."""
    return hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:12]
