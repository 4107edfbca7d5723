"""Memory estimates for a run and the choice of a hardware queue that fits it.

weights = parameters × bytes per parameter (of the runtime format: llama.cpp keeps the GGUF
quantization, transformers dequantizes to its dtype); KV cache = 2 × layers × context × batch ×
kv_heads × head_dim × bytes per element; plus a fixed runtime overhead.
"""
from __future__ import annotations

from dataclasses import dataclass

from runner.errors import BenchsiteError

GIB = 1024**3
RUNTIME_OVERHEAD_BYTES = 512 * 1024**2

# Average storage per weight, including block scales (llama.cpp's quantization formats).
BYTES_PER_PARAMETER = {
    "F32": 4.0, "ALL_F32": 4.0, "float32": 4.0, "F16": 2.0, "BF16": 2.0, "float16": 2.0, "bfloat16": 2.0,
    "Q8_0": 1.0625, "Q6_K": 0.8203, "Q5_K_M": 0.6875, "Q5_K_S": 0.6875, "Q5_0": 0.6875, "Q5_1": 0.75,
    "Q4_K_M": 0.5625, "Q4_K_S": 0.5625, "Q4_0": 0.5625, "Q4_1": 0.625, "Q3_K_M": 0.4297, "Q3_K_S": 0.4297,
    "Q2_K": 0.3281,
}


@dataclass(frozen=True)
class ModelShape:
    parameters: int
    weight_format: str  # a key of BYTES_PER_PARAMETER
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int


@dataclass(frozen=True)
class MemoryEstimate:
    weights_bytes: int
    kv_cache_bytes: int
    overhead_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.overhead_bytes


def estimate_memory(shape: ModelShape, *, context: int, batch: int, kv_bytes: float = 2.0) -> MemoryEstimate:
    per_parameter = BYTES_PER_PARAMETER.get(shape.weight_format)
    if per_parameter is None:
        raise BenchsiteError(f"no memory model for weight format {shape.weight_format!r}")
    head_dim = shape.hidden_size // max(shape.attention_heads, 1)
    kv = 2 * shape.layers * context * batch * shape.kv_heads * head_dim * kv_bytes
    return MemoryEstimate(int(shape.parameters * per_parameter), int(kv), RUNTIME_OVERHEAD_BYTES)


def choose_queue(estimate: MemoryEstimate, *, device: str, queues: dict[str, int]) -> str:
    """The smallest queue of the device's kind whose memory fits the estimate."""
    kind = "cpu" if device == "cpu" else "gpu"
    candidates = sorted(
        ((capacity, name) for name, capacity in queues.items() if name.split("-")[0] == kind),
    )
    for capacity, name in candidates:
        if estimate.total_bytes <= capacity:
            return name
    largest = f"{candidates[-1][1]} has {candidates[-1][0] / GIB:.1f} GiB" if candidates else f"no {kind} queue"
    raise BenchsiteError(
        f"run needs about {estimate.total_bytes / GIB:.1f} GiB ({kind}); nothing fits: {largest}"
    )
