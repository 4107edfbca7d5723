"""Named run configurations (balanced, performance, memory_optimized) as options for each backend.

A preset is only a set of constructor options for `runner.backends.load_backend`; an evaluation run
and a performance profile with the same options measure the same configuration, so quality and speed
of a preset can be shown side by side.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from runner.errors import BenchsiteError

BALANCED = "balanced"
# What a run gets without a preset; a command-line option overrides one of these.
DEFAULT_OPTIONS: dict[str, dict] = {
    "hf": {"dtype": "auto", "device": "auto", "batch_size": 16},
    "llama_cpp": {"n_ctx": 2048},
}


def default_options(backend: str) -> dict:
    return dict(DEFAULT_OPTIONS.get(backend, {}))


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    summary: str
    options: dict[str, dict] = field(default_factory=dict)  # backend name -> constructor options


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "balanced",
            "Balanced",
            "The backends' defaults: f16 KV cache, 2048-token context, moderate batches.",
            {
                "llama_cpp": {"n_ctx": 2048, "n_batch": 512, "type_k": "f16", "type_v": "f16", "flash_attn": False},
                "hf": {"dtype": "auto", "batch_size": 8},
            },
        ),
        Preset(
            "performance",
            "Performance",
            "Larger batches and flash attention for throughput; memory is spent freely.",
            {
                "llama_cpp": {"n_ctx": 4096, "n_batch": 2048, "type_k": "f16", "type_v": "f16", "flash_attn": True},
                "hf": {"dtype": "auto", "batch_size": 32},
            },
        ),
        Preset(
            "memory_optimized",
            "Memory-optimized",
            "q8_0 KV cache (needs flash attention in llama.cpp), short context, small batches; bfloat16 weights.",
            {
                "llama_cpp": {"n_ctx": 1024, "n_batch": 128, "type_k": "q8_0", "type_v": "q8_0", "flash_attn": True},
                "hf": {"dtype": "bfloat16", "batch_size": 1},
            },
        ),
    )
}


def preset_options(name: str, backend: str) -> dict:
    """The backend options of a preset; backends without preset options (fake) get none."""
    preset = PRESETS.get(name)
    if preset is None:
        raise BenchsiteError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return dict(preset.options.get(backend, {}))
