"""Knowledge benchmarks: TriviaQA and NQ-Open (open answers), OpenBookQA (multiple choice).

Prompts, stop sequences and answer matching follow lm-evaluation-harness 0.4.13's `triviaqa`, `nq_open`
and `openbookqa` tasks. Open answers get the harness's exact match plus SQuAD token F1, best over the
accepted answers.
"""
from __future__ import annotations

from runner.datasets import DataSource
from runner.registry import ScoreContext, ScoreResult, scorer, template
from runner.spec import GENERATE_UNTIL, MULTIPLE_CHOICE, TaskSpec
from runner.templates import Doc
from runner.text_metrics import best_exact_match, best_token_f1

# The harness stops open answers at the first newline, full stop or comma.
OPEN_ANSWER_STOPS = ("\n", ".", ",")
NQ_OPEN_ARTICLES = r"\b(?:The |the |An |A |The |a |an )"


def _open_answer_doc(text: str, answers: list[str]) -> Doc:
    # Few-shot examples show the first answer, as the harness does for list targets.
    return Doc(text=text, gold=answers[0], target_text=answers[0], extra={"answers": answers})


@template("triviaqa")
def triviaqa(row: dict) -> Doc:
    return _open_answer_doc(f"Question: {row['question']}?\nAnswer:", list(row["answer"]["aliases"]))


@template("nq_open")
def nq_open(row: dict) -> Doc:
    return _open_answer_doc(f"Q: {row['question']}?\nA:", list(row["answer"]))


@template("openbookqa")
def openbookqa(row: dict) -> Doc:
    choices = row["choices"]
    return Doc(
        text=row["question_stem"],
        choices=tuple(choices["text"]),
        gold=choices["label"].index(row["answerKey"].lstrip()),
    )


def open_answer_result(doc: Doc, output: str, **exact_match_options) -> ScoreResult:
    """Score one generated answer after the harness's `remove_whitespace` filter."""
    prediction = output.strip()
    answers = doc.extra["answers"]
    return ScoreResult(
        metrics={
            "exact_match": best_exact_match(prediction, answers, **exact_match_options),
            "f1": best_token_f1(prediction, answers),
        },
        prediction=prediction,
    )


@scorer("triviaqa")
def score_triviaqa(doc: Doc, outputs: list[str], context: ScoreContext) -> ScoreResult:
    return open_answer_result(doc, outputs[0], ignore_case=True, ignore_punctuation=True)


@scorer("nq_open")
def score_nq_open(doc: Doc, outputs: list[str], context: ScoreContext) -> ScoreResult:
    return open_answer_result(
        doc, outputs[0], ignore_case=True, ignore_punctuation=True, regexes_to_ignore=(NQ_OPEN_ARTICLES,)
    )


def _open_qa(slug: str, title: str, version: str, source: DataSource, **prompt_options) -> TaskSpec:
    # The harness draws few-shot examples from train splits that are not shipped offline (both tasks are
    # 0-shot by default); validation stands in, without the item being asked.
    return TaskSpec(
        slug=slug,
        title=title,
        category="knowledge",
        version=version,
        output_type=GENERATE_UNTIL,
        template=slug,
        test=source,
        fewshot=source,
        until=OPEN_ANSWER_STOPS,
        max_new_tokens=256,
        metrics=("exact_match", "f1"),
        scorer=slug,
        primary_metric="exact_match",
        **prompt_options,
    )


TASKS: list[TaskSpec] = [
    _open_qa(
        "triviaqa", "TriviaQA", "3.0",
        # The harness reads rc.nocontext; offline we have its Wikipedia half (7,993 of 17,944 questions).
        DataSource(
            "triviaqa/rc.wikipedia.nocontext/validation",
            package_path="trivia_qa/rc.wikipedia.nocontext/validation",
            hub=("mandarjoshi/trivia_qa", "rc.wikipedia.nocontext", "validation"),
        ),
    ),
    _open_qa(
        "nq_open", "Natural Questions (open)", "4.0",
        DataSource(
            "natural_questions/nq_open/validation",
            package_path="nq_open/none/validation",
            hub=("google-research-datasets/nq_open", None, "validation"),
        ),
        description="Answer these questions:\n\n",
        fewshot_delimiter="\n",
    ),
    TaskSpec(
        slug="openbookqa",
        title="OpenBookQA",
        category="knowledge",
        version="1.0",
        output_type=MULTIPLE_CHOICE,
        template="openbookqa",
        test=DataSource("openbookqa/test.jsonl", hub=("allenai/openbookqa", "main", "test"),
                        normalizer="openbookqa_ai2"),
        fewshot=DataSource(  # validation stands in for the harness's train split, as above
            "openbookqa/main/validation",
            package_path="openbookqa/main/validation",
            hub=("allenai/openbookqa", "main", "validation"),
        ),
        metrics=("acc", "acc_norm"),
        primary_metric="acc_norm",
    ),
]
