"""BLEU, chrF, ROUGE and BERTScore on inputs with known answers, checked against the libraries' own APIs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from runner.similarity import bleu, chrf, rouge

REPO = Path(__file__).resolve().parents[2]
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."


def test_identical_text_scores_the_maximum():
    assert bleu(SENTENCE, [SENTENCE]) == pytest.approx(100.0)
    assert chrf(SENTENCE, [SENTENCE]) == pytest.approx(100.0)
    assert rouge(SENTENCE, SENTENCE) == pytest.approx({"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0})


def test_text_sharing_nothing_scores_zero():
    # Disjoint words and disjoint characters, so every metric has nothing to match.
    prediction, reference = "aaa bbb ccc ddd", "xyz qqq www vvv"
    assert bleu(prediction, [reference]) == 0.0
    assert chrf(prediction, [reference]) == 0.0
    assert rouge(prediction, reference) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_rouge_n_by_hand():
    scores = rouge("the cat sat", "the cat ran")
    assert scores["rouge1"] == pytest.approx(2 / 3)  # 2 of 3 unigrams shared both ways
    assert scores["rouge2"] == pytest.approx(1 / 2)  # "the cat" of {"the cat", "cat sat"}


def test_bleu_uses_the_harness_t5_settings():
    prediction = "The fox jumps over the lazy dog by the river."
    reference = "A quick brown fox jumps over the lazy dog near the river."
    expected = sacrebleu.BLEU(tokenize="intl", smooth_method="exp", smooth_value=0.0, lowercase=False,
                              effective_order=False).corpus_score([prediction], [[reference]]).score
    assert 0.0 < bleu(prediction, [reference]) == pytest.approx(expected)
    # With several references, a prediction equal to any one of them is a perfect match.
    assert bleu(prediction, [reference, prediction]) == pytest.approx(100.0)


def test_chrf_matches_sacrebleu_sentence_scores():
    prediction, reference = "The cats were sitting on the mats.", "The cat sat on the mat."
    expected = sacrebleu.CHRF().sentence_score(prediction, [reference]).score
    assert 0.0 < chrf(prediction, [reference]) == pytest.approx(expected)


def test_rouge_matches_rouge_score_on_one_sentence():
    prediction, reference = "the fox jumped over a sleeping dog", "the quick fox jumped over the lazy dog"
    expected = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"]).score(reference, prediction)
    assert rouge(prediction, reference) == pytest.approx({name: score.fmeasure for name, score in expected.items()})


def test_rouge_l_is_summary_level_over_sentences():
    prediction, reference = "the cat sat . the dog ran", "the dog ran . the cat sat"
    plain = rouge_scorer.RougeScorer(["rougeL"]).score(reference, prediction)["rougeL"].fmeasure
    assert plain == pytest.approx(0.5)  # one longest common subsequence across the reordered sentences
    assert rouge(prediction, reference)["rougeL"] == pytest.approx(1.0)  # each sentence matched on its own


BERTSCORE_CHECK = """
import json
from runner.similarity import bertscore, bert_scorer
predictions = ["A cat sat on the mat.", "A cat sat on the mat.", "He bought a new car.", "He bought a new car."]
references = ["There was a cat sitting on the mat.", "Stock prices fell sharply on Tuesday.",
              "He purchased a brand-new automobile.", "She sold her old bicycle.", ]
scores = bertscore(predictions, references)
print(json.dumps({"scores": scores, "same": bertscore(["A cat sat."], ["A cat sat."])[0],
                  "cached": bert_scorer() is bert_scorer(), "layers": bert_scorer().num_layers}))
"""


@pytest.mark.slow
def test_bertscore_loads_offline_and_ranks_a_paraphrase_above_an_unrelated_sentence():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": "/nonexistent-hf-home"}
    completed = subprocess.run([sys.executable, "-c", BERTSCORE_CHECK], cwd=REPO, env=env, capture_output=True,
                               text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    paraphrase_cat, unrelated_cat, paraphrase_car, unrelated_car = result["scores"]
    assert paraphrase_cat > unrelated_cat
    assert paraphrase_car > unrelated_car
    assert result["same"] == pytest.approx(1.0, abs=1e-4)
    assert result["cached"] and result["layers"] == 6


def test_bertscore_needs_one_reference_per_prediction():
    from runner.similarity import bertscore

    with pytest.raises(ValueError):
        bertscore(["a", "b"], ["a"])
    assert bertscore([], []) == []
