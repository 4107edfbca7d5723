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
