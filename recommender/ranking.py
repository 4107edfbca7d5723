"""Weighted quality with a paired bootstrap over benchmark items, and Pareto frontiers: pure numpy, no ORM.

Every model answered the same items of a benchmark (one suite version), so a resample draws item indices
once and applies them to every model: per-item correlations between models are kept, and differences between
them are paired. Items of a group (MMLU's subjects) are resampled as whole clusters. A resample is a vector of
counts per item, so each benchmark's resampled means for all models are one matrix product.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000
SEED = 0
LEVEL = 0.95
TOP_K = 3
_CHUNK = 250  # resamples drawn at once: bounds memory to this many × items


@dataclass(frozen=True)
class BenchmarkItems:
    """One benchmark's per-item primary metric for every model (rows aligned with the models)."""

    slug: str
    category: str
    values: np.ndarray  # (models, items)
    baselines: np.ndarray  # (models,): random chance of each model's score row
    best: float  # the metric's best possible value (its maximum, or minimum when lower is better)
    clusters: np.ndarray | None = None  # (items,) cluster index per item (a group's members), or None


@dataclass(frozen=True)
class Ranking:
    """Weighted, baseline-normalised quality (0 = chance, 1 = perfect) with its bootstrap distribution."""

    scores: np.ndarray  # (models,) on every item
    draws: np.ndarray  # (models, resamples)
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_top1: np.ndarray  # ties split evenly, so it sums to 1 over the models
    p_top_k: np.ndarray
    leader: int  # index of the highest point score
    tied_with_leader: np.ndarray  # bool: the paired interval of (leader − model) contains 0


def category_weights(benchmarks: Sequence[BenchmarkItems], weights: Mapping[str, float]) -> np.ndarray:
    """Each benchmark's share of the weighted score: its category's weight split evenly over its benchmarks."""
    per_category: dict[str, int] = {}
    for benchmark in benchmarks:
        per_category[benchmark.category] = per_category.get(benchmark.category, 0) + 1
    raw = np.asarray([max(0.0, float(weights.get(b.category, 0.0))) / per_category[b.category] for b in benchmarks])
    total = raw.sum()
    if total <= 0:
        raise ValueError("the weights give no benchmark of the suite a positive weight")
    return raw / total


def weighted_ranking(benchmarks: Sequence[BenchmarkItems], weights: Mapping[str, float], *,
                     resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL,
                     top_k: int = TOP_K) -> Ranking:
    if not benchmarks:
        raise ValueError("no benchmark to rank on")
    shares = category_weights(benchmarks, weights)
    models = benchmarks[0].values.shape[0]
    rng = np.random.default_rng(seed)
    scores = np.zeros(models)
    draws = np.zeros((models, resamples))
    for share, benchmark in zip(shares, benchmarks):
        if share == 0:
            continue
        scores += share * _normalised(benchmark.values.mean(axis=1), benchmark)
        draws += share * _normalised(_resampled_means(benchmark, resamples, rng), benchmark)
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail], axis=1)
    leader = int(np.argmax(scores))
    difference = draws[leader] - draws
    diff_low, diff_high = np.quantile(difference, [tail, 1 - tail], axis=1)
    tied = (diff_low <= 0) & (diff_high >= 0)
    tied[leader] = False
    return Ranking(scores, draws, low, high, rank_probability(draws, 1), rank_probability(draws, top_k), leader, tied)


def rank_probability(draws: np.ndarray, k: int) -> np.ndarray:
    """P(model among the best k) over the resamples. For k = 1, a resample's win is split between tied models."""
    if k == 1:
        best = draws.max(axis=0)
        winners = np.isclose(draws, best, rtol=0, atol=1e-12)
        return (winners / winners.sum(axis=0)).mean(axis=1)
    if k >= draws.shape[0]:
        return np.ones(draws.shape[0])
    # Fewer than k models strictly better ⇔ at least the k-th largest value of the resample.
    kth = np.partition(draws, -k, axis=0)[-k]
    return (draws >= kth - 1e-12).mean(axis=1)


def _normalised(means: np.ndarray, benchmark: BenchmarkItems) -> np.ndarray:
    """(mean − chance) / (best − chance), floored at 0 as the leaderboard does."""
    baselines = benchmark.baselines.reshape(-1, *([1] * (means.ndim - 1)))
    span = benchmark.best - baselines
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = np.where(span != 0, (means - baselines) / np.where(span != 0, span, 1), 0.0)
    return np.maximum(normalised, 0.0)


def _resampled_means(benchmark: BenchmarkItems, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(models, resamples): each model's mean over the same resampled items (whole clusters when given)."""
    values = benchmark.values
    items = values.shape[1]
    if benchmark.clusters is None:
        index, groups = np.arange(items), items
    else:
        _, index = np.unique(benchmark.clusters, return_inverse=True)
        groups = int(index.max()) + 1
    means = np.empty((values.shape[0], resamples))
    for start in range(0, resamples, _CHUNK):
        stop = min(start + _CHUNK, resamples)
        rows = stop - start
        drawn = rng.integers(0, groups, size=(rows, groups))
        counts = np.bincount((np.arange(rows)[:, None] * groups + drawn).ravel(),
                             minlength=rows * groups).reshape(rows, groups).astype(np.float64)
        weights = counts[:, index]  # (rows, items): each item counts as often as its cluster was drawn
        # einsum's own loop rather than BLAS: for matrices this small a threaded BLAS spends more time waiting for
        # its threads than computing, many times more on a busy machine.
        means[:, start:stop] = np.einsum("mi,ri->mr", values, weights) / weights.sum(axis=1)
    return means


# -- Pareto frontiers ---------------------------------------------------------------------------
def pareto_front(objectives: np.ndarray) -> np.ndarray:
    """bool (models,): not dominated. `objectives` is (models, axes), every axis to be maximised; NaN is worst.

    A dominates B when A is at least as good on every axis and better on one.
    """
    filled = np.where(np.isnan(objectives), -np.inf, objectives)
    at_least = (filled[:, None, :] >= filled[None, :, :]).all(axis=2)
    better = (filled[:, None, :] > filled[None, :, :]).any(axis=2)
    dominated = (at_least & better).any(axis=0)
    return ~dominated


def pareto_probability(quality_draws: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """P(on the frontier) over the bootstrap: quality from each resample, costs (to minimise; NaN worst) fixed.

    Only models whose costs allow dominance are compared, so it stays fast for hundreds of models.
    """
    filled = np.where(np.isnan(costs), np.inf, costs)
    no_worse = (filled[:, None, :] <= filled[None, :, :]).all(axis=2)
    cheaper = (filled[:, None, :] < filled[None, :, :]).any(axis=2)
    np.fill_diagonal(no_worse, False)
    models, resamples = quality_draws.shape
    dominated = np.zeros((models, resamples), dtype=bool)
    # b is dominated by a no-worse, somewhere cheaper model of at least its quality, or by an equally costly
    # model of higher quality: compare b with the best of each group (one max per model instead of every pair).
    for b in np.nonzero(no_worse.any(axis=0))[0]:
        rivals = no_worse[:, b]
        for group, strict in ((rivals & cheaper[:, b], False), (rivals & ~cheaper[:, b], True)):
            if group.any():
                best = quality_draws[group].max(axis=0)
                dominated[b] |= best > quality_draws[b] if strict else best >= quality_draws[b]
    return (~dominated).mean(axis=1)


def finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
