"""The one protocol every model runtime implements, and the request/response types it speaks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Score `continuation` given `context`: sum of token log-probs and whether it is the greedy output."""

    context: str
    continuation: str


@dataclass(frozen=True)
class LoglikelihoodResult:
    logprob: float
    is_greedy: bool
    continuation_tokens: int


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    stop: tuple[str, ...] = ()
    max_new_tokens: int = 256
    temperature: float = 0.0
    seed: int = 1234


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class ModelInfo:
    backend: str
    name: str
    path: str
    format: str
    dtype: str
    device: str
    quantization: str = ""
    parameter_count: int | None = None
    context_length: int | None = None
    chat_template: bool = False
    extra: dict = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """A loaded model. Implementations live one per module in runner/backends/."""

    name: str

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]: ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]: ...

    def tokenize(self, text: str) -> list[int]: ...

    def apply_chat_template(self, messages: str | Sequence[dict]) -> str:
        """A user message, or a whole conversation of {role, content} dicts, as prompt text."""
        ...

    def info(self) -> ModelInfo: ...


def as_messages(messages: str | Sequence[dict]) -> list[dict]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return list(messages)


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut generated text at the first stop sequence, as the harness does."""
    cut = len(text)
    for sequence in stop:
        if sequence:
            index = text.find(sequence)
            if index != -1:
                cut = min(cut, index)
    return text[:cut]


def split_context_continuation(context: str, continuation: str) -> tuple[str, str]:
    """Move trailing whitespace of the context onto the continuation (lm-evaluation-harness `_encode_pair`)."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    return context, continuation
