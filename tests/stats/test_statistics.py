"""evaluations.statistics against known answers: hand computations, textbook examples, a coverage simulation."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from evaluations import statistics

REPO = Path(__file__).resolve().parents[2]


def binary_pairs(both: int, only_a: int, only_b: int, neither: int) -> tuple[list[int], list[int]]:
    a = [1] * both + [1] * only_a + [0] * only_b + [0] * neither
    b = [1] * both + [0] * only_a + [1] * only_b + [0] * neither
    return a, b


# -- McNemar ------------------------------------------------------------------------------------
def test_exact_mcnemar_on_32_and_4_discordant_pairs():
    a, b = binary_pairs(both=50, only_a=32, only_b=4, neither=14)

    result = statistics.mcnemar_exact(a, b)

    assert result.test == statistics.MCNEMAR and result.discordant == (32, 4)
    # 2 · P(X ≤ 4), X ~ Binomial(36, 1/2) = 2 · (1 + 36 + 630 + 7140 + 58905) / 2³⁶
    assert result.p_value == pytest.approx(2 * 66712 / 2**36, rel=1e-12)
    assert result.p_value == pytest.approx(1.9e-6, rel=0.03)
    assert result.statistic == pytest.approx(20.25)  # χ² with Yates: (|32 − 4| − 1)² / 36


def test_mcnemar_is_symmetric_and_one_without_discordant_pairs():
    a, b = binary_pairs(both=10, only_a=3, only_b=9, neither=5)

    assert statistics.mcnemar_exact(a, b).p_value == statistics.mcnemar_exact(b, a).p_value
    assert statistics.mcnemar_exact(a, a).p_value == 1.0
    with pytest.raises(ValueError):
        statistics.mcnemar_exact([0.5, 1], [1, 0])


def test_paired_test_names_mcnemar_for_binary_and_the_t_test_otherwise():
    a, b = binary_pairs(both=5, only_a=4, only_b=1, neither=5)
    continuous_a = [0.1, 0.5, 0.9, 0.4, 0.7, 0.3]
    continuous_b = [0.2, 0.4, 0.6, 0.1, 0.6, 0.3]

    assert statistics.paired_test(a, b).test == statistics.MCNEMAR
    t_test = statistics.paired_test(continuous_a, continuous_b)
    expected = scipy_stats.ttest_rel(continuous_a, continuous_b)
    assert t_test.test == statistics.PAIRED_T
    assert (t_test.statistic, t_test.p_value) == pytest.approx((expected.statistic, expected.pvalue))
    assert statistics.paired_test([], []).p_value is None
    assert statistics.paired_t_test([0.5, 0.7], [0.5, 0.7]).p_value == 1.0  # scipy would say NaN


# -- standard errors ----------------------------------------------------------------------------
def test_mean_se_is_the_square_root_of_the_sample_variance_over_n():
    values = [1, 0, 1, 1, 0, 1, 1, 1]  # mean 0.75; Σ(s − s̄)² = 6·0.0625 + 2·0.5625 = 1.5
    estimate = statistics.mean_se(values)

    assert estimate.mean == 0.75 and estimate.n == 8
    assert estimate.se == pytest.approx(math.sqrt(1.5 / 7 / 8))
    assert statistics.mean_se([1.0]).se is None and statistics.mean_se([]).n == 0


def test_paired_se_from_millers_formula_matches_a_hand_computation():
    a = [1, 1, 0, 1, 0, 1, 1, 0, 1, 1]
    b = [1, 0, 0, 1, 1, 0, 1, 0, 0, 1]
    # By hand: mean a = 0.7, mean b = 0.5, n = 10, sample (n − 1) moments:
    # Σ(a − 0.7)² = 7·0.09 + 3·0.49 = 2.1          → Var a = 2.1 / 9
    # Σ(b − 0.5)² = 10·0.25 = 2.5                   → Var b = 2.5 / 9
    # Σ(a − 0.7)(b − 0.5): (1,1)×4: 0.3·0.5 = 0.15; (1,0)×3: 0.3·−0.5 = −0.15; (0,0)×2: −0.7·−0.5 = 0.35;
    #   (0,1)×1: −0.7·0.5 = −0.35 → 0.6 − 0.45 + 0.7 − 0.35 = 0.5 → Cov = 0.5 / 9
    var_a, var_b, cov = 2.1 / 9, 2.5 / 9, 0.5 / 9
    by_hand = math.sqrt((var_a + var_b - 2 * cov) / 10)  # √(3.6 / 90) = 0.2

    result = statistics.paired_difference(a, b)

    assert by_hand == pytest.approx(0.2)
    assert result.se == pytest.approx(by_hand)
    assert result.delta == pytest.approx(0.2) and (result.mean_a, result.mean_b) == (0.7, 0.5)
    assert result.correlation == pytest.approx(cov / math.sqrt(var_a * var_b))
    # Pairing helps when the models agree: the unpaired SE would be √((Var a + Var b)/n).
    assert result.se < math.sqrt((var_a + var_b) / 10)


def test_clustered_se_matches_millers_double_sum_and_reduces_to_the_plain_se():
    values = [1, 1, 1, 0, 0, 0, 1, 0, 1]
    clusters = ["x", "x", "x", "y", "y", "y", "z", "z", "z"]
    n, mean = len(values), sum(values) / len(values)
    residuals = [v - mean for v in values]
    # Miller eq. 4: SE² = SE_CLT² + (1/n²) Σ_c Σ_i Σ_{j≠i} e_i e_j, SE_CLT² with the 1/n variance; times G/(G − 1).
    se_clt_squared = sum(e * e for e in residuals) / n / n
    cross = sum(residuals[i] * residuals[j] for i in range(n) for j in range(n)
                if i != j and clusters[i] == clusters[j]) / n**2
    by_hand = math.sqrt(3 / 2 * (se_clt_squared + cross))

    estimate = statistics.mean_se(values, clusters)

    assert estimate.se == pytest.approx(by_hand) and estimate.clusters == 3
    assert estimate.se > statistics.mean_se(values).se  # items alike within a subject: wider
    singletons = statistics.clustered_se(values, list(range(n)))
    assert singletons == pytest.approx(statistics.mean_se(values).se)
    assert statistics.clustered_se(values, ["one"] * n) is None


# -- bootstrap ----------------------------------------------------------------------------------
def test_paired_bootstrap_is_seeded_and_brackets_the_difference():
    rng = np.random.default_rng(7)
    a = rng.integers(0, 2, 200)
    b = np.where(rng.random(200) < 0.8, a, 1 - a)

    first = statistics.paired_bootstrap_ci(a, b, seed=3)
    again = statistics.paired_bootstrap_ci(a, b, seed=3)
    other = statistics.paired_bootstrap_ci(a, b, seed=4)

    assert first == again and first != other
    assert first.low < a.mean() - b.mean() < first.high and first.level == 0.95
    analytic = statistics.paired_difference(a, b)
    assert first.high - first.low == pytest.approx(2 * 1.96 * analytic.se, rel=0.15)
    assert statistics.paired_bootstrap_ci([1], [0]) is None


def test_cluster_bootstrap_resamples_whole_clusters():
    # Each cluster is all-agree or all-disagree: resampling items would understate the spread.
    a = [1] * 30 + [0] * 30
    b = [1] * 10 + [0] * 20 + [0] * 30
    clusters = [index // 10 for index in range(60)]

    items = statistics.paired_bootstrap_ci(a, b, seed=1)
    whole = statistics.paired_bootstrap_ci(a, b, clusters=clusters, seed=1)

    assert whole.high - whole.low > 1.5 * (items.high - items.low)


def test_paired_bootstrap_ci_covers_the_true_difference_about_95_percent_of_the_time():
    """Correlated binary scores (true accuracies 0.70 and 0.62, difference 0.08), n = 300, 400 simulations."""
    rng = np.random.default_rng(2024)
    n, simulations, true_difference = 300, 400, 0.08
    covered = 0
    for simulation in range(simulations):
        latent = rng.random(n)  # item difficulty shared by both models: correlated scores
        a = (latent < 0.70).astype(float)
        flip = rng.random(n) < 0.2
        b = np.where(flip, (rng.random(n) < 0.62).astype(float), (latent < 0.62).astype(float))
        interval = statistics.paired_bootstrap_ci(a, b, resamples=500, seed=simulation)
        covered += interval.low <= true_difference <= interval.high
    coverage = covered / simulations
    # The Monte Carlo SE of a 95% coverage over 400 runs is about 1.1 points.
    assert 0.92 <= coverage <= 0.98, coverage


# -- Holm ---------------------------------------------------------------------------------------
def test_holm_on_the_textbook_example():
    # Holm's procedure on four hypotheses at α = 0.05 (the example in Wikipedia's article):
    # sorted 0.005 < 0.01 < 0.03 < 0.04 against 0.05/4, 0.05/3, 0.05/2, 0.05/1 rejects the first two only.
    p_values = [0.01, 0.04, 0.03, 0.005]

    adjusted = statistics.holm(p_values)

    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [p < 0.05 for p in adjusted] == [True, False, False, True]


def test_holm_matches_r_p_adjust_and_skips_missing_values():
    # R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") → 0.05 0.08 0.09 0.09 0.09
    assert statistics.holm([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])
    assert statistics.holm([0.2, None, 0.9]) == [pytest.approx(0.4), None, pytest.approx(0.9)]
    assert statistics.holm([0.6, 0.7]) == [1.0, 1.0]  # capped at 1


# -- planning -----------------------------------------------------------------------------------
def test_minimum_detectable_difference_and_items_needed_at_5_percent_and_80_percent_power():
    z = 1.959963984540054 + 0.8416212335729143  # z_{0.975} + z_{0.80} = 2.8016

    assert statistics.minimum_detectable_difference(se=0.01) == pytest.approx(z * 0.01)
    # Paired differences with SD 0.5 (e.g. half the items discordant): a 5-point difference needs
    # (2.8016 · 0.5 / 0.05)² = 784.9 → 785 items.
    assert statistics.items_needed(difference=0.05, sd_difference=0.5) == 785
    assert statistics.items_needed(difference=-0.05, sd_difference=0.5) == 785
    # And with 785 items the SE is 0.5/√785, whose MDD is just under 5 points.
    assert statistics.minimum_detectable_difference(se=0.5 / math.sqrt(785)) == pytest.approx(0.05, abs=2e-4)
    with pytest.raises(ValueError):
        statistics.items_needed(difference=0, sd_difference=0.5)


# -- correlation --------------------------------------------------------------------------------
def test_correlation_between_benchmarks_across_models():
    arc = [0.30, 0.45, 0.52, 0.70, 0.81]
    mmlu = [0.25, 0.40, 0.38, 0.60, 0.72]  # one pair out of order

    result = statistics.correlation(arc, mmlu)

    assert result.n == 5
    assert result.pearson == pytest.approx(scipy_stats.pearsonr(arc, mmlu).statistic)
    assert result.spearman == pytest.approx(0.9)  # 1 − 6·Σd²/(n(n²−1)) = 1 − 6·2/120
    assert statistics.correlation([1, 2], [3, 4]).pearson is None  # too few models
    assert statistics.correlation([1, 1, 1], [3, 4, 5]).spearman is None  # constant


def test_the_module_imports_no_django():
    script = "import sys, evaluations.statistics; print(sorted(m for m in sys.modules if m.startswith('django')))"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
