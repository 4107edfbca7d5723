"""IFEval: 541 prompts with verifiable instructions ("answer in under 100 words", "no commas", ...).

As lm-evaluation-harness 0.4.13's `ifeval` task run with --apply_chat_template: the prompt goes through
the model's chat template, one greedy answer of up to 1280 tokens, four metrics. Prompt-level accuracy
is the share of prompts whose every instruction is followed; instruction-level accuracy pools all
instructions of all prompts, so each sample also carries its instruction count as the weight.
"""
from __future__ import annotations

from dataclasses import asdict

from runner.datasets import DataSource
from runner.ifeval_checks import InstructionVerdict, check_instructions
from runner.registry import ScoreContext, ScoreResult, scorer, template
from runner.spec import GENERATE_UNTIL, TaskSpec
from runner.templates import Doc

PROMPT_STRICT = "prompt_level_strict_acc"
INSTRUCTION_STRICT = "inst_level_strict_acc"
PROMPT_LOOSE = "prompt_level_loose_acc"
INSTRUCTION_LOOSE = "inst_level_loose_acc"
INSTRUCTION_COUNT = "num_instructions"


@template("ifeval")
def ifeval_prompt(row: dict) -> Doc:
    return Doc(
        text=row["prompt"],
        target_text="\n".join(row["instruction_id_list"]),
        extra={"key": row["key"], "instruction_id_list": list(row["instruction_id_list"]), "kwargs": row["kwargs"]},
    )


def ifeval_metrics(verdicts: list[InstructionVerdict]) -> dict[str, float]:
    strict = [verdict.strict for verdict in verdicts]
    loose = [verdict.loose for verdict in verdicts]
    return {
        PROMPT_STRICT: float(all(strict)),
        INSTRUCTION_STRICT: sum(strict) / len(strict),
        PROMPT_LOOSE: float(all(loose)),
        INSTRUCTION_LOOSE: sum(loose) / len(loose),
        INSTRUCTION_COUNT: float(len(verdicts)),
    }


@scorer("ifeval")
def score_ifeval(doc: Doc, outputs: list[str], context: ScoreContext) -> ScoreResult:
    verdicts = check_instructions(doc.extra["instruction_id_list"], doc.extra["kwargs"], outputs[0])
    return ScoreResult(
        metrics=ifeval_metrics(verdicts),
        prediction=outputs[0],
        details={"instructions": [asdict(verdict) for verdict in verdicts]},
    )


TASKS: list[TaskSpec] = [
    TaskSpec(
        slug="ifeval",
        title="IFEval",
        category="instruction_following",
        version="4.0",
        output_type=GENERATE_UNTIL,
        template="ifeval",
        test=DataSource("ifeval/input_data.jsonl", hub=("google/IFEval", None, "train")),
        until=(),
        max_new_tokens=1280,
        chat=True,
        temperature=0.0,
        scorer="ifeval",
        metrics=(PROMPT_STRICT, INSTRUCTION_STRICT, PROMPT_LOOSE, INSTRUCTION_LOOSE),
        weighted_metrics={INSTRUCTION_STRICT: INSTRUCTION_COUNT, INSTRUCTION_LOOSE: INSTRUCTION_COUNT},
        primary_metric=PROMPT_STRICT,
    ),
]
