"""Benchmark rows (one per spec version) and suites (which benchmark configurations make one board)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from evaluations.models import Benchmark, Suite
from runner.catalog import GROUPS, TASKS, TaskSpec
from runner.suites import SUITES, group_config_key, suite_version

if TYPE_CHECKING:
    from evaluations.services.plans import RunPlan


def benchmark_sync(*, spec: TaskSpec, dataset_hash: str = "") -> Benchmark:
    benchmark, _ = Benchmark.objects.update_or_create(
        slug=spec.slug,
        version=spec.version,
        spec_hash=spec.spec_hash(),
        defaults={
            "title": spec.title or spec.slug,
            "category": spec.category,
            "task_spec": json.loads(json.dumps(asdict(spec), default=str)),
            "primary_metric": spec.primary_metric,
            **({"dataset_hash": dataset_hash} if dataset_hash else {}),
        },
    )
    return benchmark


def benchmark_group_sync(*, slug: str) -> Benchmark:
    group = GROUPS[slug]
    members_hash = hashlib.sha256(
        "\n".join(TASKS[member].spec_hash() for member in group.members).encode()
    ).hexdigest()
    benchmark, _ = Benchmark.objects.update_or_create(
        slug=slug,
        version="1.0",
        spec_hash=members_hash,
        defaults={
            "title": group.title,
            "category": group.category,
            "task_spec": {"group": slug, "members": list(group.members), "aggregation": "size-weighted mean"},
            "primary_metric": group.primary_metric,
            "is_group": True,
        },
    )
    return benchmark


def plan_benchmarks(plan: RunPlan) -> list[Benchmark]:
    """The versioned rows of a plan's tasks and of the groups it asked for."""
    members = [benchmark_sync(spec=t.spec, dataset_hash=t.dataset_hash) for t in plan.tasks]
    return members + [benchmark_group_sync(slug=slug) for slug in plan.requested if slug in GROUPS]


def plan_config_keys(plan: RunPlan) -> dict[str, str]:
    """Configuration key per requested benchmark (a group's from its members')."""
    tasks = plan.config["tasks"]
    keys = {}
    for slug in plan.requested:
        if slug in GROUPS:
            members = [tasks[member]["config_key"] for member in GROUPS[slug].members]
            keys[slug] = group_config_key(slug=slug, member_keys=members)
        else:
            keys[slug] = tasks[slug]["config_key"]
    return keys


def suite_pin(*, slug: str, plan: RunPlan) -> Suite:
    """The suite version a plan built from the suite's definition evaluates (created on first use).

    Its version is the hash of its benchmarks' configuration keys, so changed prompts, items or few-shot
    counts make a new version and never mix with the old one on the board.
    """
    definition = SUITES[slug]
    entries = plan_config_keys(plan)
    version = suite_version(entries)
    suite, created = Suite.objects.get_or_create(
        slug=slug, version=version,
        defaults={"title": definition.title, "description": definition.description, "limits": plan.limits,
                  "entries": entries, "order": list(plan.requested)},
    )
    if created:
        suite.benchmarks.set(plan_benchmarks(plan))
    return suite
