"""Writes of performance profiles: measure a model under a preset on this machine and store the record."""
from __future__ import annotations

import hashlib
import json
from typing import Callable

from django.conf import settings

from evaluations.models import ModelEntry, PerformanceProfile, Run
from evaluations.services.model_entries import model_path
from runner.backends import available_backends, load_backend
from runner.environment import hardware
from runner.errors import BenchsiteError
from runner.perf import PERCENTILES
from runner.presets import PRESETS, preset_options
from runner.profiling import CPU_SWEEP, ProfileConfig, ProgressCallback, SweepGrid, profile_backend, profile_steps


def profile_config(
    *,
    requests: int = 8,
    prompt_tokens: int = 128,
    max_new_tokens: int = 64,
    sweep: bool = False,
    batch_sizes: tuple[int, ...] | None = None,
    prompt_lengths: tuple[int, ...] | None = None,
    sweep_new_tokens: int | None = None,
    rated_cpu_watts: float | None = None,
) -> ProfileConfig:
    """Profiling settings, validated; the sweep grid defaults to runner.profiling.CPU_SWEEP."""
    if requests < 1 or prompt_tokens < 1 or max_new_tokens < 1:
        raise BenchsiteError("requests, prompt tokens and new tokens must be positive")
    grid = None
    if sweep:
        grid = SweepGrid(
            batch_sizes=tuple(batch_sizes or CPU_SWEEP.batch_sizes),
            prompt_tokens=tuple(prompt_lengths or CPU_SWEEP.prompt_tokens),
            max_new_tokens=sweep_new_tokens or CPU_SWEEP.max_new_tokens,
        )
        if min(grid.batch_sizes) < 1 or min(grid.prompt_tokens) < 1:
            raise BenchsiteError("sweep batch sizes and prompt lengths must be positive")
    return ProfileConfig(
        requests=requests,
        prompt_tokens=prompt_tokens,
        max_new_tokens=max_new_tokens,
        sweep=grid,
        rated_cpu_watts=rated_cpu_watts or settings.BENCHSITE_CPU_RATED_WATTS,
        grid_carbon_g_per_kwh=settings.BENCHSITE_GRID_CARBON_G_PER_KWH,
    )


def profile_model(
    *,
    model: ModelEntry,
    backend: str,
    preset: str,
    config: ProfileConfig,
    run: Run | None = None,
    threads: int | None = None,
    on_start: Callable[[int], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> PerformanceProfile:
    """Load the model with the preset's options, profile it here and store the record.

    `threads` pins llama.cpp's thread count (default: every logical CPU); it is stored with the options.
    `on_start` receives the number of progress steps once the model is loaded.
    """
    if backend not in available_backends():
        raise BenchsiteError(f"unknown backend {backend!r}; choose one of {', '.join(available_backends())}")
    if backend == "llama_cpp" and model.format != "gguf":
        raise BenchsiteError(f"the llama_cpp backend needs a GGUF file; {model.name} is {model.format or 'unknown'}")
    options = preset_options(preset, backend)
    if threads is not None and backend == "llama_cpp":
        options["n_threads"] = threads
    loaded = load_backend(backend, str(model_path(model.location)), **options)
    if on_start:
        on_start(profile_steps(config, loaded.info().context_length))
    profile = profile_backend(loaded, config, on_progress=on_progress)
    return profile_store(model=model, backend=backend, backend_options=options, preset=preset,
                         results=profile.as_dict(), run=run)


def profile_store(
    *,
    model: ModelEntry,
    backend: str,
    backend_options: dict,
    results: dict,
    preset: str = "",
    run: Run | None = None,
    machine: dict | None = None,
) -> PerformanceProfile:
    """Store a profile record (runner.profiling.Profile.as_dict() or a load-generator curve in that shape).

    `machine` is the hardware it was measured on (default: this machine, runner.environment.hardware()).
    """
    if not results.get("concurrency"):
        raise BenchsiteError("a performance profile needs at least one concurrency point")
    machine = machine if machine is not None else hardware()
    config = results.get("config", {})
    headline = min(results["concurrency"], key=lambda point: point["concurrency"])
    energy = results.get("energy") or {}
    return PerformanceProfile.objects.create(
        model=model,
        run=run,
        preset=preset,
        backend=backend,
        backend_options=backend_options,
        hardware=machine,
        hardware_label=hardware_label(machine),
        config=config,
        config_hash=profile_config_hash(model=model, backend=backend, backend_options=backend_options,
                                        config=config, hardware_label=hardware_label(machine)),
        results=results,
        output_tokens_per_s=headline.get("output_tokens_per_s"),
        latency_p50_ms=(headline.get("end_to_end_ms") or {}).get("p50"),
        time_to_first_token_p50_ms=(headline.get("time_to_first_token_ms") or {}).get("p50"),
        peak_memory_bytes=_peak_memory(results),
        energy_per_1k_tokens_j=energy.get("joules_per_1k_output_tokens"),
        energy_source=energy.get("source") or "",
    )


def _peak_memory(results: dict) -> int | None:
    """On a GPU the model's memory is the GPU's; on a CPU it is the process tree's resident set."""
    resources = results.get("resources") or {}
    on_gpu = str((results.get("model") or {}).get("device", "")).startswith("cuda")
    if on_gpu and resources.get("gpu"):
        return resources["gpu"].get("memory_used_bytes_peak")
    return resources.get("peak_rss_bytes")


def profile_config_hash(*, model: ModelEntry, backend: str, backend_options: dict, config: dict,
                        hardware_label: str) -> str:
    """Same hash: same model file, options, profiling settings and hardware, so comparable figures."""
    payload = {"model": model.file_sha256 or model.name, "backend": backend, "backend_options": backend_options,
               "config": config, "hardware": hardware_label}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def hardware_label(machine: dict) -> str:
    """"NVIDIA H100 80GB HBM3 ×1" on GPU machines, "AMD EPYC · 2 CPUs" otherwise, or the record's own label."""
    if machine.get("label"):
        return str(machine["label"])[:200]
    gpus = machine.get("gpus") or []
    if gpus:
        return f"{gpus[0].get('name', 'GPU')} ×{len(gpus)}"
    return f"{machine.get('processor') or 'CPU'} · {machine.get('cpu_count') or '?'} CPUs"


def profile_store_load_curve(*, model: ModelEntry, curve: dict, backend_options: dict | None = None,
                             preset: str = "", machine: dict | None = None) -> PerformanceProfile:
    """Store a runner.loadgen curve (LoadCurve.as_dict()) as a profile with one point per concurrency level.

    The server runs elsewhere, so memory, utilisation and energy are unavailable (None).
    """
    points = [_level_point(level) for level in curve.get("levels", [])]
    results = {
        "schema_version": 1,
        "model": {"backend": "openai", "name": curve.get("model", ""), "path": curve.get("base_url", "")},
        "config": {"max_new_tokens": curve.get("max_tokens"), "requests": max((p["requests"] for p in points), default=0),
                   "concurrency_levels": [p["concurrency"] for p in points]},
        "concurrency": points,
        "resources": {},
        "energy": {},
        "sweep": [],
        "skipped": [],
    }
    return profile_store(model=model, backend="openai", backend_options=backend_options or {}, results=results,
                         preset=preset, machine=machine or {"label": f"server at {curve.get('base_url', '?')}"})


def _level_point(level: dict) -> dict:
    def summary(percentiles: dict | None) -> dict:
        return {**{f"p{p}": (percentiles or {}).get(f"p{p}") for p in PERCENTILES}, "mean": None}

    succeeded = level.get("succeeded", level.get("requests", 0))
    wall = level.get("wall_s") or 0.0
    tokens_per_s = level.get("output_tokens_per_s") if succeeded else None
    return {
        "concurrency": level["concurrency"],
        "requests": succeeded,
        "failed": level.get("failed", 0),
        "duration_s": wall,
        "requests_per_s": level.get("requests_per_s") if succeeded else None,
        "output_tokens_per_s": tokens_per_s,
        "prompt_tokens_per_s": None,
        "time_to_first_token_ms": summary(level.get("first_token_ms")),
        "inter_token_ms": summary(None),
        "end_to_end_ms": summary(level.get("latency_ms")),
        "prompt_tokens": None,
        "output_tokens": round(tokens_per_s * wall) if tokens_per_s is not None else None,
    }
