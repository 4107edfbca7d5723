"""Adaptive runs: each benchmark's items in a seeded random order, stopped as soon as the answer is clear.

Two rules, checked after every stored batch once the floor of items is reached:
- `ci_half_width`: the 95% interval of the primary metric is at most ε points wide on each side;
- `reference_resolved`: the paired difference from a named reference model's full run of the same
  configuration, on the items both answered, has a 95% interval that excludes zero.
A stopped benchmark is a prefix of a random permutation, so its mean is an unbiased estimate of the
full benchmark's; its scores carry their own configuration key and never sit beside full runs' scores.
"""
from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Sequence, TypeVar

import numpy as np
from django.conf import settings
from django.db.models import F

from evaluations.models import Run, RunStatus, Sample, Score
from evaluations.statistics import is_binary, paired_difference
from runner.errors import BenchsiteError
from runner.metrics import metric_scale

Z_95 = 1.959963984540054
CI_HALF_WIDTH = "ci_half_width"
REFERENCE_RESOLVED = "reference_resolved"
T = TypeVar("T")


@dataclass(frozen=True)
class AdaptiveRule:
    epsilon_points: float
    floor: int
    seed: int = 1234
    reference: str = ""  # a model name: stop once the comparison with its full run is resolved

    @classmethod
    def with_defaults(cls, *, epsilon_points: float | None = None, floor: int | None = None, seed: int = 1234,
                      reference: str = "") -> AdaptiveRule:
        rule = cls(settings.BENCHSITE_ADAPTIVE_EPSILON_POINTS if epsilon_points is None else epsilon_points,
                   settings.BENCHSITE_ADAPTIVE_FLOOR if floor is None else floor, seed, reference)
        if not rule.epsilon_points > 0:
            raise BenchsiteError("--adaptive-epsilon must be a positive number of points")
        if rule.floor < 2:
            raise BenchsiteError("--adaptive-floor must be at least 2 items")
        return rule

    def as_config(self) -> dict:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict) -> AdaptiveRule | None:
        recorded = config.get("adaptive")
        return cls(**recorded) if recorded else None


def adaptive_order(items: Sequence[T], seed: int) -> list[T]:
    """The order an adaptive run evaluates items in: the same for every delivery of the run."""
    ordered = list(items)
    random.Random(seed).shuffle(ordered)
    return ordered


@dataclass(frozen=True)
class StopDecision:
    rule: str
    items: int
    of: int
    score: float
    half_width_points: float
    reference_delta_points: float | None = None


def adaptive_stop(*, run: Run, rule: AdaptiveRule, slug: str, benchmark_id: int, metric: str,
                  total: int) -> StopDecision | None:
    """Whether the benchmark's stored samples already answer the question; None to go on."""
    values = dict(Sample.objects.filter(run=run, benchmark_id=benchmark_id).values_list("doc_id", "metrics"))
    scored = {doc: m[metric] for doc, m in values.items() if isinstance(m.get(metric), (int, float))}
    n = len(scored)
    if n < rule.floor or n >= total:
        return None
    scale = metric_scale(metric)
    points = 100 / (scale.maximum - scale.minimum)
    array = np.asarray(list(scored.values()), dtype=float)
    half_width = ci_half_width_points(float(array.sum()), float((array**2).sum()), n, binary=is_binary(array),
                                      value_range=scale.maximum - scale.minimum)
    mean = float(array.mean())
    if half_width <= rule.epsilon_points:
        return StopDecision(CI_HALF_WIDTH, n, total, mean, half_width)
    if rule.reference:
        reference = _reference_values(run=run, rule=rule, slug=slug, metric=metric)
        shared = sorted(set(scored) & set(reference))
        if len(shared) >= rule.floor:
            difference = paired_difference([scored[d] for d in shared], [reference[d] for d in shared])
            if difference.se is not None and abs(difference.delta) > Z_95 * difference.se:
                return StopDecision(REFERENCE_RESOLVED, n, total, mean, half_width,
                                    difference.delta * points)
    return None


@dataclass(frozen=True)
class Simulation:
    """Many adaptive stops replayed on one stored full run's per-item values."""

    items: int
    full_score: float
    resamples: int
    stopped_early: float  # share of replays that stopped before the last item
    mean_items: float
    # Over the replays that stopped early (None if none did): how often the 95% interval held the full
    # run's score, and the mean distance from it.
    coverage: float | None
    mean_abs_error_points: float | None


def adaptive_simulate(values: Sequence[float], rule: AdaptiveRule, *, resamples: int = 1000, check_every: int = 16,
                      value_range: float = 1.0, seed: int = 0) -> Simulation:
    """Replay the interval rule on seeded random orders of a full run's items (pure, no database).

    The full run's mean is the truth here: an honest rule's intervals hold it in about 95% of replays
    (slightly more, as items are drawn without replacement from a finite benchmark).
    """
    array = np.asarray(values, dtype=float)
    n_items = len(array)
    truth = float(array.mean())
    generator = np.random.default_rng(seed)
    checkpoints = [n for n in range(rule.floor, n_items, check_every)]
    binary = is_binary(array)
    stops, covered, errors = [], 0, []
    for _ in range(resamples):
        order = array[generator.permutation(n_items)]
        prefix_sums, prefix_squares = np.cumsum(order), np.cumsum(order**2)
        stop_at, half_width = n_items, 0.0
        for n in checkpoints:
            width = ci_half_width_points(prefix_sums[n - 1], prefix_squares[n - 1], n, binary=binary,
                                         value_range=value_range)
            if width <= rule.epsilon_points:
                stop_at, half_width = n, width
                break
        stops.append(stop_at)
        if stop_at < n_items:  # a replay that ran to the end has the full score exactly: no error to count
            error_points = abs(prefix_sums[stop_at - 1] / stop_at - truth) * 100 / value_range
            errors.append(error_points)
            covered += error_points <= half_width
    early = len(errors)
    return Simulation(n_items, truth, resamples, early / resamples, float(np.mean(stops)),
                      covered / early if early else None, float(np.mean(errors)) if early else None)


def ci_half_width_points(total: float, total_squares: float, n: int, *, binary: bool, value_range: float = 1.0) -> float:
    """Half the width of the 95% interval of a mean, in points of 100, from the sum and sum of squares.

    For 0/1 values the Agresti–Coull interval: the plain one is zero wide when the first n items happen to
    agree (all right or all wrong), which would stop a run at its floor with a false certainty.
    """
    if binary:
        adjusted = (total + 2) / (n + 4)
        se = math.sqrt(adjusted * (1 - adjusted) / (n + 4))
    else:
        mean = total / n
        se = math.sqrt(max(total_squares / n - mean**2, 0.0) * n / (n - 1) / n) if n > 1 else math.inf
    return Z_95 * se * 100 / value_range


def adaptive_record_stop(*, run: Run, slug: str, decision: StopDecision) -> None:
    """Keep why and where the benchmark stopped; the run's total shrinks by the items it saved."""
    stops = dict(Run.objects.filter(pk=run.pk).values_list("adaptive_stops", flat=True).first() or {})
    stops[slug] = {**asdict(decision), "saved": decision.of - decision.items}
    Run.objects.filter(pk=run.pk).update(adaptive_stops=stops, total=F("total") - (decision.of - decision.items))


def _reference_values(*, run: Run, rule: AdaptiveRule, slug: str, metric: str) -> dict[int, float]:
    """Per item, the reference model's value in its latest finished full run of this benchmark configuration."""
    full_key = run.config["tasks"][slug].get("full_config_key")
    score = (Score.objects.filter(config_key=full_key, benchmark__slug=slug, run__status=RunStatus.FINISHED,
                                  run__model__name__iexact=rule.reference, run__is_private=False)
             .order_by("-run__finished_at").select_related("run").first())
    if score is None:
        return {}
    rows = Sample.objects.filter(run=score.run, benchmark__slug=slug).values_list("doc_id", "metrics")
    return {doc: m[metric] for doc, m in rows if isinstance(m.get(metric), (int, float))}
