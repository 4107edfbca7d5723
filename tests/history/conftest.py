"""Runs of one model built from per-item outcomes, so a second run can be made truly worse or merely noisy."""
from __future__ import annotations

import random

from evaluations.models import Benchmark, ModelEntry, Run, Sample
from tests.leaderboard.factories import BenchmarkFactory, finished_run

ITEMS = 200


def run_with_items(model: ModelEntry, outcomes: dict[str, list[float]], *, days_ago: int, **fields) -> Run:
    """A finished run whose primary score of each benchmark is the mean of its per-item outcomes, stored as samples."""
    run = finished_run(model, {slug: sum(values) / len(values) for slug, values in outcomes.items()},
                       days_ago=days_ago, **fields)
    benchmarks = {benchmark.slug: benchmark for benchmark in Benchmark.objects.filter(slug__in=list(outcomes))}
    Sample.objects.bulk_create(
        Sample(run=run, benchmark=benchmarks[slug], doc_id=doc_id, prompt=f"Q{doc_id}", target="A",
               prediction="0" if value else "1", metrics={"acc": value, "acc_norm": value}, correct=bool(value))
        for slug, values in outcomes.items() for doc_id, value in enumerate(values)
    )
    return run


def abilities(seed: int, total: int = ITEMS) -> list[float]:
    """Per-item chances of a right answer, spread between easy and hard items (mean about 0.7)."""
    rng = random.Random(seed)
    return [min(1.0, max(0.0, rng.betavariate(3.5, 1.5))) for _ in range(total)]


def draws(chances: list[float], seed: int) -> list[float]:
    """One run's outcomes: each item right with its chance. Two draws from the same chances differ by noise only."""
    rng = random.Random(seed)
    return [1.0 if rng.random() < chance else 0.0 for chance in chances]


def worse(chances: list[float], points: float) -> list[float]:
    """The same items, each `points` less likely to be answered right: a true drop of about that much."""
    return [max(0.0, chance - points / 100) for chance in chances]


def benchmarks() -> None:
    BenchmarkFactory(slug="arc_easy", title="ARC-Easy", primary_metric="acc_norm")
    BenchmarkFactory(slug="winogrande", title="WinoGrande", primary_metric="acc")
