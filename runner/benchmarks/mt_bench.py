"""MT-Bench: 80 two-turn questions graded 1-10 by an LLM judge with FastChat's single-answer prompts.

As FastChat's `gen_model_answer` + `gen_judgment --mode single`: the model answers both turns in its chat
template (up to 1024 new tokens each), the judge grades turn 1 alone and turn 2 in the light of the whole
conversation; math, reasoning and coding questions are graded against GPT-4's reference answers. One
deliberate difference: answers are greedy for every category (FastChat samples writing and roleplay at
0.7), so a run is reproducible.
"""
from __future__ import annotations

from functools import lru_cache

from runner.datasets import DataSource, load_split
from runner.errors import DataUnavailable
from runner.judge import JUDGED_SCORERS, judge_identity, judge_turn, mean_rating, require_judge
from runner.registry import ScoreContext, ScoreResult, scorer, template
from runner.spec import GENERATE_UNTIL, TaskSpec
from runner.templates import Doc

REFERENCE_ANSWERS = DataSource("mt_bench/reference_answer/gpt-4.jsonl")
# Reference answers change the grades but are not the task's test split, so they are pinned here.
REFERENCE_ANSWERS_SHA256 = "f957a5bc977badb66885ec970e6cd08527845780313f0995764260e5777b9b3f"


@lru_cache(maxsize=1)
def reference_answers() -> dict[int, list[str]]:
    split = load_split(REFERENCE_ANSWERS)
    if split.content_hash != REFERENCE_ANSWERS_SHA256:
        raise DataUnavailable(f"{split.origin} is not FastChat's published GPT-4 reference file (sha256 differs)")
    return {int(row["question_id"]): list(row["choices"][0]["turns"]) for row in split.rows}


@template("mt_bench")
def mt_bench_prompt(row: dict) -> Doc:
    references = reference_answers().get(int(row["question_id"]))
    extra = {"turns": list(row["turns"]), "category": row["category"], "question_id": row["question_id"]}
    if references:
        extra["references"] = references
    return Doc(text=row["turns"][0], gold="", target_text="\n\n".join(references or ()), extra=extra)


JUDGED_SCORERS.add("mt_bench")


@scorer("mt_bench")
def score_mt_bench(doc: Doc, outputs: list[str], context: ScoreContext) -> ScoreResult:
    judge = require_judge(context, "mt_bench")
    questions, references = doc.extra["turns"], doc.extra.get("references")
    judgments = [
        judge_turn(judge, category=doc.extra["category"], questions=questions, answers=outputs,
                   references=references, turn=turn, max_new_tokens=context.judge_max_new_tokens)
        for turn in (1, 2)
    ]
    metrics = {f"turn{turn}_score": j.rating for turn, j in enumerate(judgments, 1) if j.rating is not None}
    score = mean_rating(judgments)
    if score is not None:
        metrics["score"] = score
    details = {
        "judge": judge_identity(judge, context.judge_name),
        "judgments": [judgment.as_details() for judgment in judgments],
    }
    return ScoreResult(metrics=metrics, details=details)


TASKS = [
    TaskSpec(
        slug="mt_bench",
        title="MT-Bench",
        category="instruction_following",
        version="1.0",
        output_type=GENERATE_UNTIL,
        template="mt_bench",
        test=DataSource("mt_bench/question.jsonl"),
        max_new_tokens=1024,
        metrics=("turn1_score", "turn2_score", "score"),
        primary_metric="score",
        scorer="mt_bench",
        chat=True,
    ),
]
