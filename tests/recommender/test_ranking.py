"""The paired bootstrap ranking and the Pareto frontier on synthetic per-item scores of known structure."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from recommender.ranking import (
    BenchmarkItems,
    category_weights,
    pareto_front,
    pareto_probability,
    rank_probability,
    weighted_ranking,
)


def items(slug: str, category: str, rows: list[np.ndarray], baseline: float = 0.25, clusters=None) -> BenchmarkItems:
    return BenchmarkItems(slug, category, np.vstack(rows).astype(float), np.full(len(rows), baseline), 1.0, clusters)


def correct(rng: np.random.Generator, accuracy: float, n: int) -> np.ndarray:
    return (rng.random(n) < accuracy).astype(float)


def test_a_model_truly_better_by_a_margin_wins_at_least_95_percent_of_resamples():
    rng = np.random.default_rng(7)
    strong, weak = correct(rng, 0.80, 400), correct(rng, 0.65, 400)
    ranking = weighted_ranking([items("arc", "reasoning", [weak, strong])], {"reasoning": 1}, seed=0)
    assert ranking.leader == 1
    assert ranking.p_top1[1] >= 0.95
    assert ranking.p_top1.sum() == pytest.approx(1.0)
    assert not ranking.tied_with_leader[0]  # the paired interval of the difference excludes 0


def test_two_identical_models_each_win_half_and_are_tied():
    rng = np.random.default_rng(1)
    same = correct(rng, 0.6, 300)
    ranking = weighted_ranking([items("arc", "reasoning", [same, same.copy()])], {"reasoning": 1}, seed=0)
    assert ranking.p_top1 == pytest.approx([0.5, 0.5])
    follower = 1 - ranking.leader
    assert ranking.tied_with_leader[follower]


def test_close_models_share_the_win_and_probabilities_sum_to_one():
    rng = np.random.default_rng(2)
    rows = [correct(rng, accuracy, 200) for accuracy in (0.60, 0.61, 0.62, 0.40)]
    ranking = weighted_ranking([items("arc", "reasoning", rows)], {"reasoning": 1}, seed=5)
    assert ranking.p_top1.sum() == pytest.approx(1.0)
    assert ranking.p_top1[3] < 0.01
    assert ranking.p_top_k.sum() == pytest.approx(3.0)  # three places, no ties among continuous means here
    assert (ranking.ci_low <= ranking.scores).all() and (ranking.scores <= ranking.ci_high).all()


def test_scores_are_weighted_means_of_baseline_normalised_category_scores():
    # reasoning: chance 0.25; math: chance 0. Model 0: arc 0.75 → (0.75−0.25)/0.75, gsm 0.5. Weights 1 and 3.
    arc = items("arc", "reasoning", [np.array([1, 1, 1, 0]), np.array([1, 0, 0, 0])])
    gsm = BenchmarkItems("gsm", "math", np.array([[1, 0, 1, 0], [1, 1, 1, 1]], dtype=float), np.zeros(2), 1.0)
    ranking = weighted_ranking([arc, gsm], {"reasoning": 1, "math": 3}, resamples=1000)
    expected_0 = (1 * (0.5 / 0.75) + 3 * 0.5) / 4
    expected_1 = (1 * 0.0 + 3 * 1.0) / 4  # 0.25 accuracy is chance: normalised 0
    assert ranking.scores == pytest.approx([expected_0, expected_1])


def test_items_are_resampled_jointly_so_the_interval_of_a_difference_is_paired():
    # Model 1 is model 0 plus one extra correct item in every 20: the per-item scores are almost perfectly correlated,
    # so the paired difference is sure although each model's own interval is wide.
    rng = np.random.default_rng(4)
    base = correct(rng, 0.5, 400)
    better = base.copy()
    better[::20] = 1.0
    ranking = weighted_ranking([items("arc", "reasoning", [base, better], baseline=0.0)], {"reasoning": 1})
    assert ranking.leader == 1
    assert ranking.p_top1[1] > 0.99
    overlap = ranking.ci_high[0] > ranking.ci_low[1]
    assert overlap  # unpaired intervals overlap, yet the paired comparison is decisive
    assert not ranking.tied_with_leader[0]


def test_a_ranking_is_reproducible_under_its_seed_and_differs_under_another():
    rng = np.random.default_rng(9)
    bench = [items("arc", "reasoning", [correct(rng, 0.6, 100), correct(rng, 0.62, 100)])]
    first = weighted_ranking(bench, {"reasoning": 1}, seed=11)
    assert np.array_equal(first.draws, weighted_ranking(bench, {"reasoning": 1}, seed=11).draws)
    assert not np.array_equal(first.draws, weighted_ranking(bench, {"reasoning": 1}, seed=12).draws)


def test_clusters_are_resampled_whole():
    # Two subjects; within each, both models score alike, so resampling whole subjects moves both together.
    values = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 0, 0, 0]], dtype=float)
    clusters = np.array(["a", "a", "a", "b", "b", "b"])
    ranking = weighted_ranking([BenchmarkItems("mmlu", "knowledge", values, np.zeros(2), 1.0, clusters)],
                               {"knowledge": 1}, resamples=1000)
    assert set(np.unique(ranking.draws[0])) <= {0.0, 0.5, 1.0}  # whole subjects: 0, 1 or 2 of "a"


def test_weights_must_give_some_benchmark_a_positive_share():
    bench = [items("arc", "reasoning", [np.ones(3)])]
    with pytest.raises(ValueError, match="positive weight"):
        category_weights(bench, {"math": 1})


def test_rank_probability_splits_ties_at_the_top():
    draws = np.array([[1.0, 2.0], [1.0, 1.0], [0.0, 2.0]])
    # Resample 0: models 0 and 1 tie at 1.0; resample 1: models 0 and 2 tie at 2.0.
    assert rank_probability(draws, 1) == pytest.approx([0.5, 0.25, 0.25])


# -- Pareto ---------------------------------------------------------------------------------------
def dominated_by_brute_force(points: np.ndarray) -> set[int]:
    out = set()
    for i, j in itertools.permutations(range(len(points)), 2):
        if (points[j] >= points[i]).all() and (points[j] > points[i]).any():
            out.add(i)
    return out


def test_the_frontier_is_exactly_the_non_dominated_models():
    rng = np.random.default_rng(0)
    for _ in range(20):
        points = rng.integers(0, 6, size=(12, 3)).astype(float)  # small integers: many ties
        front = pareto_front(points)
        assert set(np.nonzero(~front)[0]) == dominated_by_brute_force(points)


def test_unknown_figures_count_as_worst():
    points = np.array([[0.9, np.nan], [0.5, -1.0], [0.4, -2.0]])
    assert pareto_front(points).tolist() == [True, True, False]


def test_probability_on_the_frontier_under_the_bootstrap():
    # Model 0 is cheaper and clearly better than 1 (never on the frontier); 2 is dearer but best in half the
    # resamples, so it is on the frontier exactly then.
    draws = np.array([[0.6, 0.6, 0.6, 0.6], [0.5, 0.5, 0.5, 0.5], [0.7, 0.5, 0.7, 0.5]])
    costs = np.array([[1.0], [2.0], [3.0]])
    assert pareto_probability(draws, costs).tolist() == [1.0, 0.0, 0.5]


def test_probability_on_the_frontier_equals_the_frontier_of_each_resample():
    rng = np.random.default_rng(3)
    draws = rng.integers(0, 4, size=(10, 50)).astype(float)  # many ties in quality
    costs = rng.integers(0, 3, size=(10, 2)).astype(float)  # and in costs
    costs[0, 1] = np.nan
    expected = np.mean([pareto_front(np.column_stack([draws[:, r], -costs])) for r in range(50)], axis=0)
    assert pareto_probability(draws, costs) == pytest.approx(expected)
