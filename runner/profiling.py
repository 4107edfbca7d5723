"""Profile a loaded backend: streamed latency (time to first token, inter-token, end to end), throughput,
memory, energy, and optionally a scaling sweep over batch sizes and prompt lengths.

Prompts are synthetic counting sequences ("Count on: 1, 2, 3, ...") cut to an exact token length, which
models continue without stopping early, so every request produces close to `max_new_tokens`. Output
tokens are counted as the pieces `Backend.stream` yields (one per token, except a token that ends
inside a UTF-8 character, which comes out with the next).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from runner.backends.base import Backend, GenerationRequest
from runner.perf import ConcurrencyPoint, EnergyFigures, RequestTiming, rate_per_second, summarize_requests
from runner.sampler import DEFAULT_INTERVAL_S, ResourceReport, ResourceSampler

SCHEMA_VERSION = 1
ProgressCallback = Callable[[str, int], None]


@dataclass(frozen=True)
class SweepGrid:
    batch_sizes: tuple[int, ...]
    prompt_tokens: tuple[int, ...]
    max_new_tokens: int


# Small enough for the bundled models on two CPU cores (well under a minute each); FULL_SWEEP is for GPUs.
CPU_SWEEP = SweepGrid(batch_sizes=(1, 2, 4), prompt_tokens=(128, 256, 512), max_new_tokens=16)
FULL_SWEEP = SweepGrid(batch_sizes=(1, 2, 4, 8, 16, 32), prompt_tokens=(128, 512, 1024, 2048, 4096), max_new_tokens=64)


@dataclass(frozen=True)
class ProfileConfig:
    requests: int = 8
    prompt_tokens: int = 128
    max_new_tokens: int = 64
    warmup_requests: int = 1
    sweep: SweepGrid | None = None
    sample_interval_s: float = DEFAULT_INTERVAL_S
    rated_cpu_watts: float | None = None  # None: runner.perf.DEFAULT_WATTS_PER_CPU × logical CPUs
    grid_carbon_g_per_kwh: float | None = None  # None: no carbon figure

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SweepPoint:
    batch_size: int
    prompt_tokens: int
    wall_s: float
    output_tokens: int
    latency_ms: float  # one generate() call: every request of the batch returns together
    output_tokens_per_s: float | None
    total_tokens_per_s: float | None  # prompt and output tokens over the wall time
    requests_per_s: float | None
    peak_rss_bytes: int | None
    gpu_memory_used_bytes_peak: int | None
    energy_j: float | None
    energy_source: str | None


@dataclass
class Profile:
    model: dict
    config: ProfileConfig
    concurrency: list[ConcurrencyPoint]
    resources: ResourceReport
    energy: EnergyFigures
    sweep: list[SweepPoint] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # sweep points beyond the model's context

    def as_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "config": self.config.as_dict(),
            "concurrency": [point.as_dict() for point in self.concurrency],
            "resources": self.resources.as_dict(),
            "energy": self.energy.as_dict(),
            "sweep": [asdict(point) for point in self.sweep],
            "skipped": self.skipped,
        }


def profile_backend(backend: Backend, config: ProfileConfig, *, on_progress: ProgressCallback | None = None) -> Profile:
    progress = on_progress or (lambda _label, _count: None)
    for index in range(config.warmup_requests):
        backend.generate([_request(backend, config.prompt_tokens, config.max_new_tokens, variant=-1 - index)])
        progress("warm-up", 1)
    requests = [_request(backend, config.prompt_tokens, config.max_new_tokens, variant=i) for i in range(config.requests)]
    with _sampler(config) as sampler:
        timings = []
        for request in requests:
            timings.append(timed_stream(backend, request))
            progress("latency", 1)
    point = summarize_requests(timings, concurrency=1)
    resources = sampler.report()
    energy = EnergyFigures.of(resources.energy_j, resources.energy_source, output_tokens=point.output_tokens,
                              grid_g_per_kwh=config.grid_carbon_g_per_kwh)
    profile = Profile(asdict(backend.info()), config, [point], resources, energy)
    if config.sweep is not None:
        _sweep(backend, config, profile, progress)
    return profile


def profile_steps(config: ProfileConfig, context_length: int | None) -> int:
    """How many progress steps profile_backend reports (for a progress bar)."""
    sweep = sum(batch for batch, _ in _fitting_points(config.sweep, context_length)) if config.sweep else 0
    return config.warmup_requests + config.requests + sweep


def timed_stream(backend: Backend, request: GenerationRequest, prompt_tokens: int | None = None) -> RequestTiming:
    """Stream one request and time it; prompt tokens are counted with the backend's tokenizer unless given."""
    if prompt_tokens is None:
        prompt_tokens = len(backend.tokenize(request.prompt))
    started = time.perf_counter()
    first_token = None
    pieces = 0
    for _piece in backend.stream(request):
        if first_token is None:
            first_token = time.perf_counter()
        pieces += 1
    return RequestTiming(started, first_token, time.perf_counter(), prompt_tokens, pieces)


def synthetic_prompt(backend: Backend, tokens: int, *, variant: int = 0) -> str:
    """The longest counting sequence ("Count on: 1, 2, 3") of at most `tokens` tokens.

    `variant` shifts where counting starts, so requests of one profile differ (no prompt cache helps).
    """
    start = 1 + abs(variant) * 1000

    def text(count: int) -> str:
        return "Count on: " + ", ".join(str(n) for n in range(start, start + count)) + ","

    low, high = 0, max(tokens, 1)
    while low < high:  # the largest count whose text fits
        middle = (low + high + 1) // 2
        if len(backend.tokenize(text(middle))) <= tokens:
            low = middle
        else:
            high = middle - 1
    return text(low)


def _request(backend: Backend, prompt_tokens: int, max_new_tokens: int, *, variant: int) -> GenerationRequest:
    return GenerationRequest(synthetic_prompt(backend, prompt_tokens, variant=variant), max_new_tokens=max_new_tokens)


def _sampler(config: ProfileConfig) -> ResourceSampler:
    return ResourceSampler(interval_s=config.sample_interval_s, rated_cpu_watts=config.rated_cpu_watts)


def _fitting_points(grid: SweepGrid | None, context_length: int | None) -> list[tuple[int, int]]:
    if grid is None:
        return []
    return [
        (batch, prompt)
        for prompt in grid.prompt_tokens
        for batch in grid.batch_sizes
        if context_length is None or prompt + grid.max_new_tokens <= context_length
    ]


def _sweep(backend: Backend, config: ProfileConfig, profile: Profile, progress: ProgressCallback) -> None:
    grid = config.sweep
    assert grid is not None
    context_length = profile.model.get("context_length")
    fitting = _fitting_points(grid, context_length)
    profile.skipped = [
        {"batch_size": batch, "prompt_tokens": prompt, "reason": f"over the {context_length}-token context"}
        for prompt in grid.prompt_tokens
        for batch in grid.batch_sizes
        if (batch, prompt) not in fitting
    ]
    for batch, prompt_tokens in fitting:
        requests = [_request(backend, prompt_tokens, grid.max_new_tokens, variant=i) for i in range(batch)]
        with _sampler(config) as sampler:
            started = time.perf_counter()
            generations = backend.generate(requests)
            wall = time.perf_counter() - started
        resources = sampler.report()
        output_tokens = sum(g.output_tokens for g in generations)
        total_tokens = output_tokens + sum(g.prompt_tokens for g in generations)
        profile.sweep.append(
            SweepPoint(
                batch_size=batch,
                prompt_tokens=prompt_tokens,
                wall_s=wall,
                output_tokens=output_tokens,
                latency_ms=wall * 1000,
                output_tokens_per_s=rate_per_second(output_tokens, wall),
                total_tokens_per_s=rate_per_second(total_tokens, wall),
                requests_per_s=rate_per_second(batch, wall),
                peak_rss_bytes=resources.peak_rss_bytes,
                gpu_memory_used_bytes_peak=resources.gpu.memory_used_bytes_peak if resources.gpu else None,
                energy_j=resources.energy_j,
                energy_source=resources.energy_source,
            )
        )
        progress(f"sweep b{batch} p{prompt_tokens}", batch)
