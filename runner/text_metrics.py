"""Answer matching for open-domain QA (TriviaQA, NQ-Open): the harness's exact match and SQuAD token F1.

Both score a prediction against every accepted answer and keep the best, as the harness does for
multi-answer targets and the SQuAD evaluation script does over reference answers.
"""
from __future__ import annotations

import re
import string
from collections import Counter
from typing import Sequence

from runner.metrics import exact_match

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, drop ASCII punctuation and the articles a/an/the, collapse spaces."""
    text = "".join(character for character in text.lower() if character not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall after normalisation (the SQuAD 2.0 script's F1)."""
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(reference).split()
    if not predicted or not expected:
        # An empty answer counts only against an empty reference (e.g. "The" normalises to nothing).
        return float(predicted == expected)
    overlap = sum((Counter(predicted) & Counter(expected)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_exact_match(
    prediction: str,
    answers: Sequence[str],
    *,
    ignore_case: bool = False,
    ignore_punctuation: bool = False,
    regexes_to_ignore: Sequence[str] = (),
) -> float:
    """The harness's exact_match against each answer (its options, HF `evaluate` order); 1.0 if any matches."""
    options = {"ignore_case": ignore_case, "ignore_punctuation": ignore_punctuation,
               "regexes_to_ignore": regexes_to_ignore}
    return max((exact_match(prediction, answer, **options) for answer in answers), default=0.0)


def best_token_f1(prediction: str, answers: Sequence[str]) -> float:
    return max((token_f1(prediction, answer) for answer in answers), default=0.0)
