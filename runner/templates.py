"""Prompt templates, byte-compatible with lm-evaluation-harness 0.4's standard task configs.

Each template turns one dataset row into a `Doc`: the text shown to the model, the candidate
choices (multiple choice) and the gold answer. Templates are looked up by name from task specs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from runner.registry import TEMPLATES


@dataclass(frozen=True)
class Doc:
    """One evaluation item after templating.

    `contexts` has one entry for ordinary items; "multiple input" tasks such as WinoGrande put the
    options into the context and score one shared continuation.
    """

    text: str
    choices: tuple[str, ...] = ()
    gold: int | str = 0
    contexts: tuple[str, ...] = ()
    target_text: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def multiple_input(self) -> bool:
        return bool(self.contexts)

    def fewshot_text(self, target_delimiter: str) -> str:
        """How this item reads as a solved few-shot example."""
        if self.multiple_input:
            return self.contexts[int(self.gold)] + target_delimiter + self.target_text
        if self.choices:
            return self.text + target_delimiter + self.choices[int(self.gold)]
        return self.text + target_delimiter + str(self.target_text)


def arc(row: dict) -> Doc:
    labels = row["choices"]["label"]
    return Doc(
        text=f"Question: {row['question']}\nAnswer:",
        choices=tuple(row["choices"]["text"]),
        gold=labels.index(row["answerKey"]),
    )


def _hellaswag_preprocess(text: str) -> str:
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def hellaswag(row: dict) -> Doc:
    context = row["ctx_a"] + " " + row["ctx_b"].capitalize()
    return Doc(
        text=_hellaswag_preprocess(row["activity_label"] + ": " + context),
        choices=tuple(_hellaswag_preprocess(ending) for ending in row["endings"]),
        gold=int(row["label"]),
    )


def winogrande(row: dict) -> Doc:
    sentence = row["sentence"]
    blank = sentence.index("_")
    options = (row["option1"], row["option2"])
    return Doc(
        text="",
        contexts=tuple(sentence[:blank] + option for option in options),
        target_text=sentence[blank + 1:].strip(),
        gold={"1": 0, "2": 1}[str(row["answer"])],
    )


def mmlu(row: dict) -> Doc:
    choices = row["choices"]
    text = (
        f"{row['question'].strip()}\nA. {choices[0]}\nB. {choices[1]}\nC. {choices[2]}\nD. {choices[3]}\nAnswer:"
    )
    return Doc(text=text, choices=("A", "B", "C", "D"), gold=int(row["answer"]))


def gsm8k(row: dict) -> Doc:
    return Doc(text=f"Question: {row['question']}\nAnswer:", gold=row["answer"], target_text=row["answer"])


TEMPLATES.update({
    "arc": arc,
    "hellaswag": hellaswag,
    "winogrande": winogrande,
    "mmlu": mmlu,
    "gsm8k": gsm8k,
})
