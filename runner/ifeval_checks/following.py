"""Strict and loose instruction following, as defined by the IFEval paper and its reference code.

Strict checks the response as written. Loose also accepts the response if any of seven variants follows
the instruction: without its first line, its last line or both, and each of those (and the original)
with every "*" removed, so a markdown wrapper or a chatty first line does not fail an instruction.
An empty or whitespace-only response (or variant) follows nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from runner.ifeval_checks.verifiers import VERIFIERS


@dataclass(frozen=True)
class InstructionVerdict:
    instruction_id: str
    kwargs: dict[str, Any]
    strict: bool
    loose: bool


def loose_variants(response: str) -> list[str]:
    """The response and its seven loose variants, in the reference's order."""
    lines = response.split("\n")
    without_first = "\n".join(lines[1:]).strip()
    without_last = "\n".join(lines[:-1]).strip()
    without_both = "\n".join(lines[1:-1]).strip()
    return [
        response,
        response.replace("*", ""),
        without_first,
        without_last,
        without_both,
        without_first.replace("*", ""),
        without_last.replace("*", ""),
        without_both.replace("*", ""),
    ]


def instruction_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """An instruction's arguments without the null fields the Hugging Face copy of IFEval fills in."""
    return {name: value for name, value in (kwargs or {}).items() if value is not None}


def follows(instruction_id: str, response: str, kwargs: Mapping[str, Any]) -> bool:
    try:
        verify = VERIFIERS[instruction_id]
    except KeyError:
        raise ValueError(f"unknown IFEval instruction {instruction_id!r}") from None
    return bool(response.strip()) and verify(response, **kwargs)


def check_instructions(
    instruction_ids: Sequence[str], kwargs_list: Sequence[Mapping[str, Any] | None], response: str
) -> list[InstructionVerdict]:
    if len(instruction_ids) != len(kwargs_list):
        raise ValueError(f"{len(instruction_ids)} instructions but {len(kwargs_list)} kwargs")
    variants = loose_variants(response)
    verdicts = []
    for instruction_id, raw_kwargs in zip(instruction_ids, kwargs_list):
        kwargs = instruction_kwargs(raw_kwargs)
        strict = follows(instruction_id, response, kwargs)
        loose = strict or any(follows(instruction_id, variant, kwargs) for variant in variants[1:])
        verdicts.append(InstructionVerdict(instruction_id, kwargs, strict, loose))
    return verdicts
