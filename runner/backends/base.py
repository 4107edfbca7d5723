"""The one protocol every model runtime implements, and the request/response types it speaks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Protocol, Sequence, runtime_checkable

from runner.errors import ModelLoadError


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
    # Set when the response cache answered (runner.backends.responses): what computing it first cost.
    cached: bool = False
    compute_ms: float = 0.0


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
    cached: bool = False
    compute_ms: float = 0.0


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

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """The text of `generate([request])[0]`, yielded in pieces as the model produces its tokens."""
        ...


class PassThrough:
    """For a backend in front of another (the response cache, the budget): what it passes on unchanged."""

    inner: Backend

    def tokenize(self, text: str) -> list[int]:
        return self.inner.tokenize(text)

    def apply_chat_template(self, messages: str | Sequence[dict]) -> str:
        return self.inner.apply_chat_template(messages)

    def info(self) -> ModelInfo:
        return self.inner.info()

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        return self.inner.stream(request)


def as_messages(messages: str | Sequence[dict]) -> list[dict]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return list(messages)


PLAIN_DIALOGUE_STOP = "\n\nUser:"


def plain_dialogue(messages: str | Sequence[dict]) -> str:
    """The prompt for a model without a chat template (a base model), as the harness sends one then: a single
    user message as it is, a conversation as a plain transcript that ends where the assistant speaks."""
    turns = as_messages(messages)
    if len(turns) == 1 and turns[0]["role"] == "user":
        return turns[0]["content"]
    transcript = "\n\n".join(f"{turn['role'].title()}: {turn['content']}" for turn in turns)
    return f"{transcript}\n\nAssistant:"


def chat_formatter(backend: Backend, *, required: bool):
    """The backend's chat template; for a model without one, plain_dialogue unless a template was asked for."""
    info = backend.info()
    if info.chat_template:
        return backend.apply_chat_template
    if required:
        raise ModelLoadError(f"{info.name} has no chat template, and --chat-template asks for one")
    return plain_dialogue


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


def encode_pair(context: str, continuation: str, *, tokenize: Callable[[str], list[int]],
                tokenize_bare: Callable[[str], list[int]], prefix_token: Callable[[], int]) -> tuple[list[int], list[int]]:
    """Context and continuation tokens as the harness's `_encode_pair` makes them, for any tokenizer.

    The continuation is the tail of tokenizing both together (so a word split across the boundary is
    tokenized as the model would see it); an empty context scores the bare continuation after one prefix
    token (BOS, else EOS). `tokenize` adds what the model adds before text (e.g. BOS); `tokenize_bare` nothing.
    """
    context, continuation = split_context_continuation(context, continuation)
    if not context:
        return [prefix_token()], tokenize_bare(continuation)
    whole = tokenize(context + continuation)
    context_ids = tokenize(context)
    return context_ids, whole[len(context_ids):]


def stream_until_stop(pieces: Iterable[str], stop: Sequence[str]) -> Iterator[str]:
    """Pass streamed text through up to the first stop sequence, as `truncate_at_stop` cuts the whole text.

    Pieces pass one for one while no stop sequence could be starting; text that could be the start of
    one is held back and sent with the next piece that settles it.
    """
    stop = [sequence for sequence in stop if sequence]
    if not stop:
        yield from pieces
        return
    pending = ""
    for piece in pieces:
        pending += piece
        cut = truncate_at_stop(pending, stop)
        if len(cut) < len(pending):
            if cut:
                yield cut
            return
        ready = len(pending) - _partial_stop_length(pending, stop)
        if ready > 0:
            yield pending[:ready]
            pending = pending[ready:]
    if pending:
        yield pending


def _partial_stop_length(text: str, stop: Sequence[str]) -> int:
    """Length of the longest end of `text` that begins some stop sequence."""
    longest = 0
    for sequence in stop:
        for length in range(min(len(sequence) - 1, len(text)), longest, -1):
            if text.endswith(sequence[:length]):
                longest = length
                break
    return longest
