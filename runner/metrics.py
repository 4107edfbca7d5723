"""Per-sample metrics and their aggregation (mean, standard error), as the harness computes them."""
from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from typing import Sequence

import numpy as np

INVALID = "[invalid]"


def multiple_choice_metrics(logprobs: Sequence[float], choices: Sequence[str], gold: int) -> tuple[int, dict]:
    """acc picks the most likely choice; acc_norm divides by the choice's length first.

    The harness documents acc_norm as byte-length normalisation; its code divides by `len(choice)`
    in characters, and we do the same so scores match it on non-ASCII items too.
    """
    scores = np.asarray(logprobs, dtype=np.float64)
    prediction = int(np.argmax(scores))
    metrics = {"acc": float(prediction == gold)}
    if choices:
        lengths = np.asarray([float(len(choice)) for choice in choices])
        metrics["acc_norm"] = float(int(np.argmax(scores / lengths)) == gold)
    return prediction, metrics


# -- generation: answer extraction -------------------------------------------------------------
def regex_extract(text: str, pattern: str, group_select: int = 0) -> str:
    """The harness's RegexFilter: pick one match (by index, -1 = last); tuples take the first non-empty group."""
    matches = re.findall(pattern, text)
    if not matches:
        return INVALID
    match = matches[group_select]
    if isinstance(match, tuple):
        match = next((group for group in match if group), match[0])
    return match.strip()


def exact_match(
    prediction: str,
    reference: str,
    *,
    ignore_case: bool = False,
    ignore_punctuation: bool = False,
    regexes_to_ignore: Sequence[str] = (),
) -> float:
    """Same normalisation as the harness's exact_match (HF `evaluate` semantics)."""
    for pattern in regexes_to_ignore:
        prediction = re.sub(pattern, "", prediction)
        reference = re.sub(pattern, "", reference)
    if ignore_case:
        prediction, reference = prediction.lower(), reference.lower()
    if ignore_punctuation:
        table = str.maketrans("", "", string.punctuation)
        prediction, reference = prediction.translate(table), reference.translate(table)
    return float(prediction == reference)


# -- aggregation --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Aggregate:
    value: float
    stderr: float | None
    n: int

    def as_dict(self) -> dict:
        return {"value": self.value, "stderr": self.stderr, "n": self.n}


def mean_with_stderr(values: Sequence[float]) -> Aggregate:
    n = len(values)
    if n == 0:
        return Aggregate(float("nan"), None, 0)
    array = np.asarray(values, dtype=np.float64)
    stderr = float(array.std(ddof=1) / math.sqrt(n)) if n > 1 else None
    return Aggregate(float(array.mean()), stderr, n)


def weighted_mean(values: Sequence[float], weights: Sequence[float]) -> Aggregate:
    """Weighted mean with the standard error of a ratio estimator (values are per-sample rates)."""
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    n, total = len(v), float(w.sum())
    if n == 0 or total == 0:
        return Aggregate(float("nan"), None, n)
    mean = float((v * w).sum() / total)
    stderr = None
    if n > 1:
        residuals = w * (v - mean)
        stderr = float(math.sqrt(n / (n - 1) * (residuals**2).sum()) / total)
    return Aggregate(mean, stderr, n)


def pooled(aggregates: Sequence[Aggregate]) -> Aggregate:
    """Size-weighted mean of subtasks with the harness's pooled standard error (as for the MMLU group)."""
    parts = [a for a in aggregates if a.n > 0]
    total = sum(a.n for a in parts)
    if total == 0:
        return Aggregate(float("nan"), None, 0)
    value = sum(a.value * a.n for a in parts) / total
    stderr = None
    if all(a.stderr is not None for a in parts) and total > len(parts):
        variance = sum((a.n - 1) * a.stderr**2 * a.n for a in parts) / (total - len(parts))
        stderr = math.sqrt(variance / total)
    return Aggregate(value, stderr, total)


@dataclass(frozen=True)
class MetricScale:
    """What a metric's numbers mean: its range, which way is better, and what guessing scores."""

    minimum: float = 0.0
    maximum: float = 1.0
    higher_is_better: bool = True
    chance_from_choices: bool = False  # multiple choice: guessing scores the mean of 1/choices over the items

    def baseline(self, choice_counts: Sequence[int] = ()) -> float:
        """Random-chance score: 1/k averaged over the items for multiple choice, else the worst value."""
        if self.chance_from_choices and choice_counts:
            return sum(1 / k for k in choice_counts if k) / len(choice_counts)
        return self.minimum if self.higher_is_better else self.maximum

    def normalized(self, value: float, baseline: float) -> float:
        """(score − baseline) / (best − baseline), floored at 0 as the Open LLM Leaderboard does."""
        span = self._best - baseline
        return max(0.0, (value - baseline) / span) if span else 0.0

    def normalized_stderr(self, stderr: float | None, baseline: float) -> float | None:
        """The normalisation is linear, so the standard error scales by the same factor."""
        span = abs(self._best - baseline)
        return stderr / span if stderr is not None and span else None

    @property
    def _best(self) -> float:
        return self.maximum if self.higher_is_better else self.minimum


_MULTIPLE_CHOICE = MetricScale(chance_from_choices=True)
_LOWER_IS_BETTER = MetricScale(higher_is_better=False)
METRIC_SCALES: dict[str, MetricScale] = {
    "acc": _MULTIPLE_CHOICE,
    "acc_norm": _MULTIPLE_CHOICE,
    "score": MetricScale(minimum=1.0, maximum=10.0),  # MT-Bench's 1-10 judge grade, overall and per turn
    "turn1_score": MetricScale(minimum=1.0, maximum=10.0),
    "turn2_score": MetricScale(minimum=1.0, maximum=10.0),
    "toxicity_rate": _LOWER_IS_BETTER,
    "toxicity_probability": _LOWER_IS_BETTER,
    "over_refusal_rate": _LOWER_IS_BETTER,
    "self_bleu": _LOWER_IS_BETTER,
}


def metric_scale(metric: str) -> MetricScale:
    """A metric's scale; "exact_match,strict-match" is scaled as "exact_match". Unlisted: 0-1, higher better."""
    return METRIC_SCALES.get(metric.split(",")[0], MetricScale())
