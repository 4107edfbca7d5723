"""Statistics for comparing evaluation results: pure functions of per-item scores (numpy and scipy, no ORM).

Following Miller, "Adding Error Bars to Evals" (2024): the standard error of a mean score is √(Var(s)/n);
items that share a passage or subject are clustered; two models on the same items are compared by their
paired differences, SE(A−B) = √((Var s_A + Var s_B − 2·Cov(s_A, s_B))/n), reported with a confidence
interval and the correlation of their per-item scores. Variances are sample variances (n − 1), as the
harness's standard errors are. Imported by the pages, the API and the recommender; it imports no Django.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.8
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
# Resamples drawn at once: bounds the bootstrap's memory to this many × the number of clusters.
_BOOTSTRAP_CHUNK = 256

MCNEMAR = "exact McNemar"
PAIRED_T = "paired t-test"
NO_TEST = "none"


@dataclass(frozen=True)
class MeanEstimate:
    mean: float
    se: float | None  # None below two items (or two clusters)
    n: int
    clusters: int | None = None  # how many clusters the SE was computed over; None: items independent


@dataclass(frozen=True)
class PairedDifference:
    """Mean of A − B over the same items, with its analytic (Miller) standard error."""

    delta: float
    se: float | None
    n: int
    mean_a: float
    mean_b: float
    correlation: float | None  # Pearson correlation of the per-item scores; None when either is constant
    clusters: int | None = None


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float


@dataclass(frozen=True)
class TestResult:
    test: str  # MCNEMAR, PAIRED_T or NO_TEST
    p_value: float | None  # None when no test applies (fewer than two items)
    statistic: float | None = None  # t for the t-test; χ² with Yates' correction for McNemar
    discordant: tuple[int, int] | None = None  # McNemar's (b, c): items only A got right, only B got right


@dataclass(frozen=True)
class Correlation:
    n: int
    pearson: float | None
    pearson_p: float | None
    spearman: float | None
    spearman_p: float | None


# -- one model ----------------------------------------------------------------------------------
def mean_se(values: Sequence[float], clusters: Sequence[Hashable] | None = None) -> MeanEstimate:
    """The mean and its standard error, clustered when `clusters` gives each item's cluster."""
    array = _as_array(values)
    n = len(array)
    if n == 0:
        return MeanEstimate(math.nan, None, 0)
    if clusters is not None:
        return MeanEstimate(float(array.mean()), clustered_se(array, clusters), n, len(set(clusters)))
    se = float(array.std(ddof=1) / math.sqrt(n)) if n > 1 else None
    return MeanEstimate(float(array.mean()), se, n)


def clustered_se(values: Sequence[float], clusters: Sequence[Hashable]) -> float | None:
    """Miller's clustered standard error (eq. 4) with the small-sample factor G/(G − 1).

    Var = G/(G−1) · Σ_c (Σ_{i∈c} (s_i − s̄))² / n². Miller's form adds the within-cluster cross terms to
    SE_CLT²; the factor makes one item per cluster give back the plain √(Var(s)/n) exactly.
    """
    array = _as_array(values)
    labels = list(clusters)
    if len(labels) != len(array):
        raise ValueError(f"{len(labels)} cluster labels for {len(array)} values")
    _, index = np.unique(np.asarray([str(label) for label in labels]), return_inverse=True)
    groups = int(index.max()) + 1 if len(index) else 0
    if groups < 2:
        return None
    residual_sums = np.bincount(index, weights=array - array.mean(), minlength=groups)
    variance = groups / (groups - 1) * float((residual_sums**2).sum()) / len(array) ** 2
    return math.sqrt(variance)


# -- two models on the same items ---------------------------------------------------------------
def paired_difference(a: Sequence[float], b: Sequence[float],
                      clusters: Sequence[Hashable] | None = None) -> PairedDifference:
    """A − B over paired items. SE = √((Var a + Var b − 2·Cov(a, b))/n), i.e. √(Var(a − b)/n); clustered if asked."""
    x, y = _paired_arrays(a, b)
    n = len(x)
    if n == 0:
        return PairedDifference(math.nan, None, 0, math.nan, math.nan, None)
    difference = mean_se(x - y, clusters)
    return PairedDifference(difference.mean, difference.se, n, float(x.mean()), float(y.mean()),
                            _pearson(x, y), difference.clusters)


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], *, clusters: Sequence[Hashable] | None = None,
                        level: float = 1 - ALPHA, resamples: int = BOOTSTRAP_RESAMPLES,
                        seed: int = BOOTSTRAP_SEED) -> Interval | None:
    """Percentile interval of mean(A − B) over items resampled in pairs (whole clusters when given); seeded.

    None below two items (or two clusters): there is nothing to resample.
    """
    x, y = _paired_arrays(a, b)
    labels = np.arange(len(x)) if clusters is None else np.asarray([str(label) for label in clusters])
    _, index = np.unique(labels, return_inverse=True)
    groups = int(index.max()) + 1 if len(index) else 0
    if groups < 2:
        return None
    sums = np.bincount(index, weights=x - y, minlength=groups)
    sizes = np.bincount(index, minlength=groups).astype(np.float64)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, _BOOTSTRAP_CHUNK):
        stop = min(start + _BOOTSTRAP_CHUNK, resamples)
        drawn = rng.integers(0, groups, size=(stop - start, groups))
        means[start:stop] = sums[drawn].sum(axis=1) / sizes[drawn].sum(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Interval(float(low), float(high), level)


def mcnemar_exact(a: Sequence[float], b: Sequence[float]) -> TestResult:
    """Exact McNemar test for paired binary scores: a two-sided binomial test on the discordant pairs."""
    x, y = _paired_arrays(a, b)
    if not (is_binary(x) and is_binary(y)):
        raise ValueError("McNemar's test needs 0/1 scores")
    only_a = int(((x == 1) & (y == 0)).sum())
    only_b = int(((x == 0) & (y == 1)).sum())
    discordant = only_a + only_b
    if discordant == 0:
        return TestResult(MCNEMAR, 1.0, 0.0, (only_a, only_b))
    p_value = float(stats.binomtest(only_a, discordant, 0.5).pvalue)
    chi2_yates = (abs(only_a - only_b) - 1) ** 2 / discordant
    return TestResult(MCNEMAR, min(1.0, p_value), float(chi2_yates), (only_a, only_b))


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> TestResult:
    """scipy's paired t-test; identical scores on every item give p = 1 rather than scipy's NaN."""
    x, y = _paired_arrays(a, b)
    if len(x) < 2:
        return TestResult(PAIRED_T, None)
    difference = x - y
    if np.all(difference == difference[0]):
        return TestResult(PAIRED_T, 1.0 if difference[0] == 0 else 0.0)
    result = stats.ttest_rel(x, y)
    return TestResult(PAIRED_T, float(result.pvalue), float(result.statistic))


def paired_test(a: Sequence[float], b: Sequence[float]) -> TestResult:
    """Exact McNemar when both models' scores are 0/1, else the paired t-test."""
    x, y = _paired_arrays(a, b)
    if len(x) == 0:
        return TestResult(NO_TEST, None)
    if is_binary(x) and is_binary(y):
        return mcnemar_exact(x, y)
    return paired_t_test(x, y)


# -- many comparisons ---------------------------------------------------------------------------
def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (same order); None entries are left out of the family.

    The k-th smallest of m is multiplied by (m − k + 1), made non-decreasing and capped at 1: an adjusted
    value below α is a rejection at family-wise error rate α.
    """
    present = [(p, i) for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    present.sort()
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


# -- planning -----------------------------------------------------------------------------------
def minimum_detectable_difference(*, se: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true difference a two-sided test at `alpha` detects with `power`, given the difference's SE."""
    return _z_sum(alpha, power) * se


def items_needed(*, difference: float, sd_difference: float, alpha: float = ALPHA, power: float = POWER) -> int:
    """Paired items needed to detect `difference` (same units as the scores) at `alpha` with `power`.

    n = ((z_{1−α/2} + z_{power}) · SD(a − b) / difference)², the per-item SD of the paired differences.
    """
    if difference == 0:
        raise ValueError("a difference of zero cannot be detected")
    return max(1, math.ceil((_z_sum(alpha, power) * sd_difference / abs(difference)) ** 2))


def correlation(x: Sequence[float], y: Sequence[float]) -> Correlation:
    """Pearson and Spearman correlation, e.g. of two benchmarks' scores across models; None when undefined."""
    first, second = _paired_arrays(x, y)
    n = len(first)
    if n < 3 or _constant(first) or _constant(second):
        return Correlation(n, None, None, None, None)
    pearson = stats.pearsonr(first, second)
    spearman = stats.spearmanr(first, second)
    return Correlation(n, float(pearson.statistic), float(pearson.pvalue), _finite(spearman.statistic),
                       _finite(spearman.pvalue))


def pearson_pairwise(matrix: np.ndarray, *, min_pairs: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r of every pair of columns over the rows where both are present (NaN = missing).

    Returns (r, n): r is NaN where fewer than `min_pairs` rows have both or either is constant there.
    Vectorised per pair, so a board of thousands of models costs milliseconds, not a SciPy call per pair.
    """
    values = np.asarray(matrix, dtype=float)
    present = ~np.isnan(values)
    columns = values.shape[1]
    r = np.full((columns, columns), np.nan)
    n = present.T.astype(int) @ present.astype(int)
    for i in range(columns):
        for j in range(i, columns):
            both = present[:, i] & present[:, j]
            if n[i, j] < min_pairs:
                continue
            value = _pearson(values[both, i], values[both, j])
            r[i, j] = r[j, i] = np.nan if value is None else value
    return r, n


def is_binary(values: Sequence[float] | np.ndarray) -> bool:
    array = np.asarray(values, dtype=np.float64)
    return bool(np.all((array == 0) | (array == 1)))


# -- helpers ------------------------------------------------------------------------------------
def _z_sum(alpha: float, power: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def _as_array(values: Sequence[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def _paired_arrays(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_array(a), _as_array(b)
    if len(x) != len(y):
        raise ValueError(f"paired scores must have the same length ({len(x)} and {len(y)})")
    return x, y


def _constant(array: np.ndarray) -> bool:
    return bool(len(array) == 0 or np.all(array == array[0]))


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 2 or _constant(x) or _constant(y):
        return None
    return float(np.corrcoef(x, y)[0, 1])


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
