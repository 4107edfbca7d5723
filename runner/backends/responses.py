"""Answer a model's requests from earlier identical ones, and load the model only when something is new.

A response is reused only under the same identity: the model file's sha256, the runtime and every backend
option (any of them may change outputs), plus the exact request (context and continuation, or prompt and
every generation parameter). A re-run, a rescoring with new metrics, or a second suite sharing items then
costs lookups instead of model calls. Reused results carry `cached=True` and the compute time they cost
when first produced, so a run can say how much the cache saved.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from runner.backends.base import (
    Backend,
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    PassThrough,
)

LOGLIKELIHOOD = "loglikelihood"
GENERATE = "generate"


class ResponseStore(Protocol):
    """Where responses live between runs (the database, for the site)."""

    def lookup(self, keys: Sequence[str]) -> dict[str, dict]: ...

    def save(self, entries: dict[str, tuple[str, dict]]) -> None:
        """`entries` maps a key to (kind, response)."""


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    saved_ms: float = 0.0


def response_key(identity: dict, kind: str, request: LoglikelihoodRequest | GenerationRequest) -> str:
    payload = {"identity": identity, "kind": kind, "request": dataclasses.asdict(request)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class CachingBackend(PassThrough):
    """A Backend in front of another; `load` is called at most once, on the first request it cannot answer."""

    def __init__(self, *, name: str, identity: dict, store: ResponseStore, load: Callable[[], Backend]) -> None:
        self.name = name
        self.identity = identity
        self.stats = CacheStats()
        self._store = store
        self._load = load
        self._inner: Backend | None = None

    @property
    def inner(self) -> Backend:
        if self._inner is None:
            self._inner = self._load()
        return self._inner

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return self._answer(LOGLIKELIHOOD, requests, lambda todo: self.inner.loglikelihood(todo),
                            _loglikelihood_from, _loglikelihood_to)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return self._answer(GENERATE, requests, lambda todo: self.inner.generate(todo),
                            _generation_from, _generation_to)

    def _answer(self, kind, requests, compute, from_stored, to_stored) -> list:
        keys = [response_key(self.identity, kind, request) for request in requests]
        stored = self._store.lookup(sorted(set(keys)))
        missing = [i for i, key in enumerate(keys) if key not in stored]
        results: list = [None] * len(requests)
        for i, key in enumerate(keys):
            if key in stored:
                results[i] = from_stored(stored[key])
                self.stats.saved_ms += stored[key].get("ms", 0.0)
        self.stats.hits += len(requests) - len(missing)
        if missing:
            started = time.perf_counter()
            computed = compute([requests[i] for i in missing])
            per_request_ms = (time.perf_counter() - started) * 1000 / len(missing)
            self.stats.misses += len(missing)
            fresh: dict[str, tuple[str, dict]] = {}
            for i, result in zip(missing, computed):
                results[i] = result
                fresh[keys[i]] = (kind, {**to_stored(result), "ms": per_request_ms})
            self._store.save(fresh)
        return results


def _loglikelihood_to(result: LoglikelihoodResult) -> dict:
    return {"logprob": result.logprob, "is_greedy": result.is_greedy, "continuation_tokens": result.continuation_tokens}


def _loglikelihood_from(stored: dict) -> LoglikelihoodResult:
    return LoglikelihoodResult(stored["logprob"], stored["is_greedy"], stored["continuation_tokens"], cached=True,
                               compute_ms=stored.get("ms", 0.0))


def _generation_to(result: Generation) -> dict:
    return {"text": result.text, "prompt_tokens": result.prompt_tokens, "output_tokens": result.output_tokens}


def _generation_from(stored: dict) -> Generation:
    return Generation(stored["text"], stored["prompt_tokens"], stored["output_tokens"], cached=True,
                      compute_ms=stored.get("ms", 0.0))
