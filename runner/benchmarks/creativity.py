"""Creative writing: stories, poems and constrained pieces with machine-checkable constraints.

A set the project writes (runner/benchmarks/data/creativity.jsonl). Each item is sampled three times at
temperature 0.8 and scored on how many of its constraints the samples keep (word and line counts,
required and forbidden words, acrostics, lipograms, set openings and endings), on how varied the samples
are (distinct-1/2, self-BLEU) and, when a judge is configured, on a short 1-10 rubric.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import sacrebleu

from runner.datasets import DataSource
from runner.judge import judge_identity, mean_rating, rate
from runner.registry import ScoreContext, ScoreResult, scorer, template
from runner.spec import GENERATE_UNTIL, TaskSpec
from runner.templates import Doc

DATA_FILE = "bundled:creativity.jsonl"  # runner/benchmarks/data
NUM_SAMPLES = 3
RUBRIC_MAX_NEW_TOKENS = 512
RUBRIC_SYSTEM = "You are a helpful assistant."
RUBRIC = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the creative quality of the piece an AI "
    "assistant wrote for the writing task displayed below. Consider originality, vivid and precise language, "
    "coherence, and how well the piece serves the task. Do not judge length or the formal constraints of the "
    "task; they are checked separately. Begin your evaluation with a one-sentence explanation. Then rate the "
    "piece on a scale of 1 to 10 by strictly following this format: \"[[rating]]\", for example: "
    "\"Rating: [[5]]\".\n\n[Task]\n{task}\n\n[The Start of Assistant's Answer]\n{answer}\n"
    "[The End of Assistant's Answer]"
)

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")
# Markdown and quoting a model may wrap lines in; not part of the words it wrote.
_DECORATION = "*_#>\"'“”‘’`~ \t-"


# -- constraint checkers: (text, parameters) -> kept? -----------------------------------------------
def words(text: str) -> list[str]:
    return _WORD.findall(text)


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def _within(count: int, parameters: dict) -> bool:
    return parameters.get("min", 0) <= count <= parameters.get("max", count)


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", text, re.IGNORECASE) is not None


def _undecorated(text: str) -> str:
    return " ".join(text.strip().strip(_DECORATION).split()).lower()


def check_word_count(text: str, parameters: dict) -> bool:
    return _within(len(words(text)), parameters)


def check_line_count(text: str, parameters: dict) -> bool:
    return _within(len(lines(text)), parameters)


def check_paragraph_count(text: str, parameters: dict) -> bool:
    paragraphs = [block for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]
    return _within(len(paragraphs), parameters)


def check_required_words(text: str, parameters: dict) -> bool:
    return all(_has_word(text, word) for word in parameters["words"])


def check_forbidden_words(text: str, parameters: dict) -> bool:
    return not any(_has_word(text, word) for word in parameters["words"])


def check_acrostic(text: str, parameters: dict) -> bool:
    """The first letters of the lines spell the word, one line per letter."""
    initials = "".join(line.lstrip(_DECORATION)[:1] for line in lines(text))
    return initials.lower() == parameters["word"].lower()


def check_lipogram(text: str, parameters: dict) -> bool:
    """The letter never appears (either case); an empty answer keeps no constraint."""
    return bool(words(text)) and parameters["letter"].lower() not in text.lower()


def check_starts_with(text: str, parameters: dict) -> bool:
    return _undecorated(text).startswith(_undecorated(parameters["text"]))


def check_ends_with(text: str, parameters: dict) -> bool:
    return _undecorated(text).endswith(_undecorated(parameters["text"]))


def check_max_words_per_line(text: str, parameters: dict) -> bool:
    return bool(lines(text)) and all(len(words(line)) <= parameters["max"] for line in lines(text))


def check_forbidden_characters(text: str, parameters: dict) -> bool:
    return not any(character in text for character in parameters["characters"])


CHECKS: dict[str, Callable[[str, dict], bool]] = {
    "word_count": check_word_count,
    "line_count": check_line_count,
    "paragraph_count": check_paragraph_count,
    "required_words": check_required_words,
    "forbidden_words": check_forbidden_words,
    "acrostic": check_acrostic,
    "lipogram": check_lipogram,
    "starts_with": check_starts_with,
    "ends_with": check_ends_with,
    "max_words_per_line": check_max_words_per_line,
    "forbidden_characters": check_forbidden_characters,
}


def check_constraints(text: str, constraints: Sequence[dict]) -> list[bool]:
    return [CHECKS[constraint["type"]](text, constraint) for constraint in constraints]


# -- diversity across the samples of one item --------------------------------------------------------
def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct-n (Li et al., 2016): unique n-grams over all n-grams, pooled over the texts (lower-cased words)."""
    grams = [
        tuple(tokens[i:i + n])
        for tokens in ([word.lower() for word in words(text)] for text in texts)
        for i in range(len(tokens) - n + 1)
    ]
    return len(set(grams)) / len(grams) if grams else 0.0


def self_bleu(texts: Sequence[str]) -> float:
    """Self-BLEU (Zhu et al., 2018): mean sentence BLEU (sacrebleu, 0-100) of each text against the others."""
    scores = [
        sacrebleu.sentence_bleu(text, [other for j, other in enumerate(texts) if j != i]).score
        for i, text in enumerate(texts)
    ]
    return sum(scores) / len(scores)


# -- task -------------------------------------------------------------------------------------------
@template("creativity")
def creativity_prompt(row: dict) -> Doc:
    return Doc(
        text=row["prompt"],
        gold="",
        target_text="; ".join(constraint["type"] for constraint in row["constraints"]),
        extra={"id": row["id"], "kind": row["kind"], "constraints": row["constraints"]},
    )


@scorer("creativity")
def score_creativity(doc: Doc, outputs: list[str], context: ScoreContext) -> ScoreResult:
    verdicts = [check_constraints(output, doc.extra["constraints"]) for output in outputs]
    kept = [kept for sample in verdicts for kept in sample]
    metrics = {
        "constraint_pass_rate": sum(kept) / len(kept),
        "distinct_1": distinct_n(outputs, 1),
        "distinct_2": distinct_n(outputs, 2),
    }
    if len(outputs) > 1:
        metrics["self_bleu"] = self_bleu(outputs)
    details: dict = {
        "constraints": [
            {**constraint, "kept": [sample[index] for sample in verdicts]}
            for index, constraint in enumerate(doc.extra["constraints"])
        ],
    }
    if context.judge is not None:
        judgments = [
            rate(context.judge, _rubric_messages(doc.text, output), prompt_name="creativity-rubric-v1",
                 max_new_tokens=min(RUBRIC_MAX_NEW_TOKENS, context.judge_max_new_tokens))
            for output in outputs
        ]
        judge_score = mean_rating(judgments)
        if judge_score is not None:
            metrics["judge_score"] = judge_score
        details["judge"] = judge_identity(context.judge, context.judge_name)
        details["judgments"] = [judgment.as_details() for judgment in judgments]
    return ScoreResult(metrics=metrics, details=details)


def _rubric_messages(task: str, answer: str) -> list[dict]:
    return [{"role": "system", "content": RUBRIC_SYSTEM},
            {"role": "user", "content": RUBRIC.format(task=task, answer=answer)}]


TASKS = [
    TaskSpec(
        slug="creativity",
        title="Creative writing",
        category="creativity",
        version="1.0",
        output_type=GENERATE_UNTIL,
        template="creativity",
        test=DataSource(DATA_FILE),
        max_new_tokens=512,
        metrics=("constraint_pass_rate", "distinct_1", "distinct_2", "self_bleu", "judge_score"),
        primary_metric="constraint_pass_rate",
        scorer="creativity",
        num_samples=NUM_SAMPLES,
        temperature=0.8,
        chat=True,
    ),
]
