"""DeterministicFakeBackend: the test suite's stand-in runtime for orchestration tests. Not a model; never a result.

Scores come from a hash of the text, so they are stable across runs and processes.
"""
from __future__ import annotations

import hashlib
from typing import Iterator, Sequence

from runner.backends.base import (
    as_messages,
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelInfo,
    stream_until_stop,
    truncate_at_stop,
)


def _unit(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


class DeterministicFakeBackend:
    name = "fake"

    def __init__(self, location: str = "fake", **_options) -> None:
        self.location = location

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def apply_chat_template(self, messages: str | Sequence[dict]) -> str:
        turns = "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in as_messages(messages))
        return turns + "<assistant>"

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return [
            LoglikelihoodResult(-10 * _unit(r.context + "\x00" + r.continuation), False, len(r.continuation))
            for r in requests
        ]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        outputs = []
        for request in requests:
            text = truncate_at_stop(_reply(request), request.stop)
            outputs.append(Generation(text, len(request.prompt), len(text)))
        return outputs

    def info(self) -> ModelInfo:
        return ModelInfo(backend=self.name, name="deterministic-fake", path=self.location, format="fake",
                         dtype="none", device="cpu", chat_template=True)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        # One character per token, as tokenize() counts them.
        return stream_until_stop(iter(_reply(request)), request.stop)


def _reply(request: GenerationRequest) -> str:
    number = int(_unit(request.prompt) * 100)
    return f" The answer is {number}.\n#### {number}\n\nQuestion:"


class PacedFakeBackend(DeterministicFakeBackend):
    """The stand-in at a model's pace (25 ms per scoring request), so a worker can be killed mid-shard."""

    name = "paced-fake"
    seconds_per_request = 0.025

    def loglikelihood(self, requests):
        import time

        time.sleep(self.seconds_per_request * len(requests))
        return super().loglikelihood(requests)


class SegfaultingBackend(DeterministicFakeBackend):
    """A runtime whose native code crashes: its first scoring call kills its own process with SIGSEGV."""

    name = "segfaulting"

    def loglikelihood(self, requests):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)
        return super().loglikelihood(requests)


def register() -> None:
    """Make the stand-ins available in this process (the test suite and its Celery workers call it)."""
    from runner.backends import available_backends, register_backend

    for kind, factory in (("fake", DeterministicFakeBackend), ("paced-fake", PacedFakeBackend),
                          ("segfaulting", SegfaultingBackend)):
        if kind not in available_backends():
            register_backend(kind, factory)
