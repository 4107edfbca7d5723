"""Scoring maths on a tiny random model built in the test, checked against a direct computation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from runner.backends import LoglikelihoodRequest, load_backend
from runner.backends.base import split_context_continuation
from runner.metrics import Aggregate, exact_match, mean_with_stderr, multiple_choice_metrics, pooled, regex_extract


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir):
    return load_backend("hf", str(tiny_llama_dir), batch_size=4, dtype="float32")


def direct_logprob(backend, context: str, continuation: str) -> tuple[float, bool]:
    context_ids, continuation_ids = backend.encode_pair(context, continuation)
    ids = torch.tensor([context_ids + continuation_ids])
    with torch.no_grad():
        logits = backend.model(ids).logits[0].double()
    log_probs = torch.log_softmax(logits, dim=-1)
    total, greedy = 0.0, True
    for offset, token in enumerate(continuation_ids):
        row = log_probs[len(context_ids) + offset - 1]
        total += float(row[token])
        greedy &= int(row.argmax()) == token
    return total, greedy


REQUESTS = [
    LoglikelihoodRequest("Question: What is the capital of France?\nAnswer:", " Paris"),
    LoglikelihoodRequest("Question: What is the capital of France?\nAnswer:", " the lazy dog"),
    LoglikelihoodRequest("The quick brown", " fox jumps over"),
    LoglikelihoodRequest("The quick ", "brown fox"),
    LoglikelihoodRequest("Answer:", " Paris is the capital of France."),
]


def test_loglikelihood_matches_a_direct_forward_pass(tiny):
    results = tiny.loglikelihood(REQUESTS)
    for request, result in zip(REQUESTS, results):
        expected, greedy = direct_logprob(tiny, request.context, request.continuation)
        assert result.logprob == pytest.approx(expected, abs=1e-4)
        assert result.is_greedy == greedy
        assert result.continuation_tokens == len(tiny.encode_pair(request.context, request.continuation)[1])


def test_batching_does_not_change_scores(tiny):
    batched = [r.logprob for r in tiny.loglikelihood(REQUESTS)]
    tiny.batch_size = 1
    try:
        single = [r.logprob for r in tiny.loglikelihood(REQUESTS)]
    finally:
        tiny.batch_size = 4
    np.testing.assert_allclose(batched, single, atol=1e-4)


FEWSHOT = "".join(f"Question: What is {n} plus {n}?\nAnswer: {2 * n}\n\n" for n in range(1, 6))
SHARED_PREFIX_REQUESTS = [
    LoglikelihoodRequest(FEWSHOT + f"Question: What is {n} plus {n}?\nAnswer:", f" {answer}")
    for n in (7, 12, 123)
    for answer in (2 * n, 2 * n + 1, "I do not know the answer")
] + REQUESTS


def test_shared_prefix_scoring_equals_plain_scoring(tiny):
    """Few-shot prefix, per-item contexts and continuations run as separate cached passes: same numbers."""
    tiny.share_prefix = False
    try:
        plain = tiny.loglikelihood(SHARED_PREFIX_REQUESTS)
    finally:
        tiny.share_prefix = True
    shared = tiny.loglikelihood(SHARED_PREFIX_REQUESTS)
    again = tiny.loglikelihood(SHARED_PREFIX_REQUESTS[:3])  # the cached few-shot prefix is reused
    np.testing.assert_allclose([r.logprob for r in shared], [r.logprob for r in plain], atol=1e-4)
    assert [r.is_greedy for r in shared] == [r.is_greedy for r in plain]
    assert [r.continuation_tokens for r in shared] == [r.continuation_tokens for r in plain]
    np.testing.assert_allclose([r.logprob for r in again], [r.logprob for r in shared[:3]], atol=1e-5)
    for request, result in zip(SHARED_PREFIX_REQUESTS[:4], shared):
        assert result.logprob == pytest.approx(direct_logprob(tiny, request.context, request.continuation)[0],
                                               abs=1e-4)


def test_trailing_context_space_moves_to_the_continuation():
    assert split_context_continuation("The quick ", "brown") == ("The quick", " brown")
    assert split_context_continuation("Answer:", " B") == ("Answer:", " B")


def test_generation_is_greedy_deterministic_and_stops(tiny):
    from runner.backends import GenerationRequest

    request = GenerationRequest("Question: What is", stop=("\n",), max_new_tokens=12)
    first, second = tiny.generate([request, request])
    assert first == second
    assert "\n" not in first.text
    assert 0 < first.output_tokens <= 12


def test_accuracy_and_length_normalised_accuracy():
    # Raw log-likelihood prefers the short choice; per-character it is the long one.
    prediction, metrics = multiple_choice_metrics([-2.0, -6.0], ["ab", "abcdefghij"], gold=1)
    assert prediction == 0
    assert metrics == {"acc": 0.0, "acc_norm": 1.0}
    prediction, metrics = multiple_choice_metrics([-1.0, -0.5, -3.0], ["x", "y", "z"], gold=1)
    assert (prediction, metrics["acc"], metrics["acc_norm"]) == (1, 1.0, 1.0)


def test_standard_error_is_the_sample_standard_error():
    values = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    aggregate = mean_with_stderr(values)
    assert aggregate.value == pytest.approx(5 / 7)
    assert aggregate.stderr == pytest.approx(stats.sem(values))
    assert aggregate.n == 7
    assert mean_with_stderr([1.0]).stderr is None


def test_group_score_is_size_weighted_with_pooled_stderr():
    first, second = [1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    group = pooled([mean_with_stderr(first), mean_with_stderr(second)])
    assert group.value == pytest.approx(5 / 10)
    assert group.n == 10
    sizes, errors = [4, 6], [stats.sem(first), stats.sem(second)]
    expected = math.sqrt(sum((n - 1) * e**2 * n for n, e in zip(sizes, errors)) / (sum(sizes) - 2) / sum(sizes))
    assert group.stderr == pytest.approx(expected)
    assert pooled([Aggregate(0.5, None, 0)]).n == 0


def test_gsm8k_answer_extraction_and_exact_match():
    output = " She has 3 + 4 = <<3+4=7>>7 apples.\n#### 7\n\n"
    assert regex_extract(output, r"#### (\-?[0-9\.\,]+)") == "7"
    assert regex_extract("no number here", r"#### (\-?[0-9\.\,]+)") == "[invalid]"
    assert regex_extract("it costs $1,200 or 5", r"(-?[$0-9.,]{2,})|(-?[0-9]+)", group_select=-1) == "5"
    options = {"ignore_case": True, "regexes_to_ignore": (",", "\\$", "(?s).*#### ", "\\.$")}
    assert exact_match("$1,200.", "Total is 1200\n#### 1,200", **options) == 1.0
    assert exact_match("1201", "#### 1200", **options) == 0.0
