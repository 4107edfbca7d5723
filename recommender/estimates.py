"""Serving figures for a model nothing was measured of: memory from its size, speed from memory bandwidth.

Pure functions. Every figure made here is shown as "estimated" beside the measured ones.
"""
from __future__ import annotations

import re

GIB = 2**30
RUNTIME_OVERHEAD_BYTES = 512 * 2**20  # as the placement estimate (runner.placement) counts
DEFAULT_CONTEXT = 2048
# Decoding reads every weight once per token, so tokens/s ≤ bandwidth / weight bytes; real runtimes reach about
# half of that peak on one stream.
BANDWIDTH_EFFICIENCY = 0.5
LATENCY_OUTPUT_TOKENS = 256  # a p95 latency estimate is the time to generate this many tokens

# Bytes per parameter by weight format: the GGUF quantization's bits per weight / 8, or the dtype's size.
_QUANT_BYTES = (("Q4_1", 0.625), ("Q5_1", 0.75), ("Q8", 1.0625), ("Q6", 0.8203), ("Q5", 0.6875), ("Q4", 0.5625),
                ("Q3", 0.4297), ("Q2", 0.3281), ("IQ4", 0.5625), ("IQ3", 0.4297), ("IQ2", 0.3281))
_DTYPE_BYTES = {"f32": 4.0, "float32": 4.0, "fp32": 4.0, "f16": 2.0, "float16": 2.0, "fp16": 2.0, "bf16": 2.0,
                "bfloat16": 2.0, "int8": 1.0, "int4": 0.5}


def bytes_per_parameter(quantization: str, dtype: str) -> float:
    """From a GGUF quantization name (Q4_K_M, Q8_0…) or a dtype; 2 bytes (16-bit) when neither says."""
    name = (quantization or "").upper()
    for prefix, size in _QUANT_BYTES:
        if re.match(rf"^{prefix}(_|$)", name):
            return size
    return _DTYPE_BYTES.get((quantization or dtype or "").lower(), 2.0)


def weights_bytes(parameter_count: int | None, quantization: str, dtype: str) -> float | None:
    if not parameter_count:
        return None
    return parameter_count * bytes_per_parameter(quantization, dtype)


def kv_bytes_per_token(*, estimated_total_bytes: int | None, weights: float | None, context: int,
                       batch: int = 1) -> float | None:
    """The KV cache per token of context implied by a run's placement estimate (weights + KV + overhead)."""
    if not estimated_total_bytes or weights is None or context <= 0:
        return None
    kv = estimated_total_bytes - weights - RUNTIME_OVERHEAD_BYTES
    return kv / (context * max(batch, 1)) if kv > 0 else None


def memory_bytes(*, weights: float | None, kv_per_token: float | None, context: int) -> float | None:
    """Weights + KV cache at `context` (when its size per token is known) + the runtime's overhead."""
    if weights is None:
        return None
    return weights + (kv_per_token or 0.0) * context + RUNTIME_OVERHEAD_BYTES


def decode_tokens_per_s(*, weights: float | None, bandwidth_gb_s: float | None) -> float | None:
    """One stream's decode speed bound by memory bandwidth, at BANDWIDTH_EFFICIENCY of the peak."""
    if not weights or not bandwidth_gb_s:
        return None
    return bandwidth_gb_s * 1e9 * BANDWIDTH_EFFICIENCY / weights


def latency_ms(tokens_per_s: float | None, output_tokens: int = LATENCY_OUTPUT_TOKENS) -> float | None:
    return output_tokens / tokens_per_s * 1000 if tokens_per_s else None


def joules_per_token(*, power_w: float | None, tokens_per_s: float | None) -> float | None:
    """Rated power over throughput: what a fully loaded machine spends per token."""
    return power_w / tokens_per_s if power_w and tokens_per_s else None
