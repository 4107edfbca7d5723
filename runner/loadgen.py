"""Load a served model at fixed concurrency levels; measure latency, time to first token and throughput.

Each level sends `requests` streamed generations from `concurrency` threads at once and waits for all
of them before the next level starts, so levels do not overlap. Failed requests are counted, not
retried, and left out of the latency percentiles.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

from runner.backends.base import GenerationRequest
from runner.backends.openai import OpenAICompatibleBackend, encode_chat

# Openings to continue rather than questions, so base and instruct models alike write to max_tokens.
DEFAULT_PROMPTS = (
    "The history of the bicycle began in the early nineteenth century, when",
    "A refrigerator keeps food cold by moving heat from the inside to the outside. First,",
    "Learning a new language takes patience. The most useful habit is",
    "The water cycle describes how water moves around the Earth. It starts when",
    "Lakes and seas differ in several ways. The first difference is",
    "People keep diaries for many reasons. One of them is",
    "Chess is played on a board of sixty-four squares. Each player",
    "In autumn the leaves of many trees turn yellow and red because",
)
PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class RequestRecord:
    ok: bool
    latency_ms: float  # request sent to last byte (or to the failure)
    first_token_ms: float | None
    output_tokens: int
    error: str = ""


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Percentiles | None:
        if not values:
            return None
        return cls(*(float(v) for v in np.percentile(np.asarray(values, dtype=float), PERCENTILES)))


@dataclass(frozen=True)
class LevelResult:
    concurrency: int
    requests: int
    succeeded: int
    failed: int
    wall_s: float
    requests_per_s: float
    output_tokens_per_s: float
    latency_ms: Percentiles | None
    first_token_ms: Percentiles | None
    errors: list[str] = field(default_factory=list)  # distinct messages, most frequent first


@dataclass(frozen=True)
class LoadCurve:
    base_url: str
    model: str
    max_tokens: int
    levels: list[LevelResult]

    def as_dict(self) -> dict:
        return asdict(self)


def timed_request(backend: OpenAICompatibleBackend, request: GenerationRequest) -> RequestRecord:
    started = time.perf_counter()
    first_token_ms, pieces, reported_tokens = None, 0, None
    try:
        for chunk in backend.stream_chunks(request):
            if chunk.text:
                pieces += 1
                if first_token_ms is None:
                    first_token_ms = (time.perf_counter() - started) * 1000
            if chunk.output_tokens is not None:
                reported_tokens = chunk.output_tokens
    except Exception as exc:  # any failure is a data point of the test, not the end of it
        return RequestRecord(False, (time.perf_counter() - started) * 1000, first_token_ms, 0,
                             f"{type(exc).__name__}: {exc}")
    # Servers that report no usage in streams (llama-cpp-python) send one piece per token.
    output_tokens = pieces if reported_tokens is None else reported_tokens
    return RequestRecord(True, (time.perf_counter() - started) * 1000, first_token_ms, output_tokens)


def run_level(
    backend: OpenAICompatibleBackend,
    requests: Sequence[GenerationRequest],
    *,
    concurrency: int,
    on_record: Callable[[RequestRecord], None] | None = None,
) -> tuple[LevelResult, list[RequestRecord]]:
    def send(request: GenerationRequest) -> RequestRecord:
        record = timed_request(backend, request)
        if on_record:
            on_record(record)
        return record

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        records = list(pool.map(send, requests))
    wall_s = time.perf_counter() - started
    return summarise(records, concurrency=concurrency, wall_s=wall_s), records


def summarise(records: Sequence[RequestRecord], *, concurrency: int, wall_s: float) -> LevelResult:
    ok = [r for r in records if r.ok]
    errors: dict[str, int] = {}
    for record in records:
        if not record.ok:
            errors[record.error] = errors.get(record.error, 0) + 1
    return LevelResult(
        concurrency=concurrency,
        requests=len(records),
        succeeded=len(ok),
        failed=len(records) - len(ok),
        wall_s=wall_s,
        requests_per_s=len(ok) / wall_s if wall_s > 0 else 0.0,
        output_tokens_per_s=sum(r.output_tokens for r in ok) / wall_s if wall_s > 0 else 0.0,
        latency_ms=Percentiles.of([r.latency_ms for r in ok]),
        first_token_ms=Percentiles.of([r.first_token_ms for r in ok if r.first_token_ms is not None]),
        errors=sorted(errors, key=errors.__getitem__, reverse=True)[:5],
    )


def load_requests(count: int, *, max_tokens: int, prompts: Sequence[str] = DEFAULT_PROMPTS,
                  chat: bool = False) -> list[GenerationRequest]:
    texts = [prompts[i % len(prompts)] for i in range(count)]
    return [GenerationRequest(encode_chat(text) if chat else text, max_new_tokens=max_tokens) for text in texts]


def run_load_test(
    backend: OpenAICompatibleBackend,
    *,
    concurrency_levels: Sequence[int],
    requests_per_level: int,
    max_tokens: int,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    chat: bool = False,
    warmup: int = 1,
    on_record: Callable[[RequestRecord], None] | None = None,
) -> LoadCurve:
    """The latency/throughput curve over the concurrency levels, after `warmup` unmeasured requests."""
    if not concurrency_levels or min(concurrency_levels) < 1:
        raise ValueError("concurrency levels must be positive")
    if requests_per_level < 1 or max_tokens < 1:
        raise ValueError("requests per level and max tokens must be positive")
    requests = load_requests(requests_per_level, max_tokens=max_tokens, prompts=prompts, chat=chat)
    for request in requests[:warmup]:
        timed_request(backend, request)  # loads weights and fills caches the first request would pay for
    levels = [run_level(backend, requests, concurrency=level, on_record=on_record)[0] for level in concurrency_levels]
    return LoadCurve(f"{backend.root}/v1", backend.model, max_tokens, levels)
