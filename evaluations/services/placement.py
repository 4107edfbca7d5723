"""Placement: which hardware queue a planned run goes to, from an estimate of the memory it needs."""
from __future__ import annotations

import json

from django.conf import settings

from evaluations.models import ModelEntry
from evaluations.services.model_entries import model_path
from evaluations.services.plans import RunPlan
from runner.errors import BenchsiteError
from runner.modelfiles import gguf_summary
from runner.placement import BYTES_PER_PARAMETER, ModelShape, choose_queue, estimate_memory


def run_placement(*, plan: RunPlan) -> tuple[str, int | None]:
    """(queue, estimated bytes). Remote endpoints and test stand-ins need no memory model."""
    if plan.backend not in ("hf", "llama_cpp"):
        return settings.CELERY_TASK_DEFAULT_QUEUE, None
    options = plan.backend_options
    device = options.get("device", "cpu")
    if device == "auto":
        device = "cpu" if not settings.BENCHSITE_GPU_AVAILABLE else "cuda"
    estimate = estimate_memory(
        model_shape(plan.model, plan.backend, options.get("dtype", "auto")),
        context=options.get("n_ctx", 2048),
        batch=options.get("batch_size", 1) if plan.backend == "hf" else 1,
        kv_bytes=4.0 if plan.backend == "hf" and options.get("dtype", "auto") in ("auto", "float32") else 2.0,
    )
    return choose_queue(estimate, device=device, queues=settings.BENCHSITE_QUEUES), estimate.total_bytes


def model_shape(model: ModelEntry, backend: str, dtype: str) -> ModelShape:
    path = model_path(model.location)
    if path.is_file():
        summary = gguf_summary(path)
        fmt = summary.quantization if backend == "llama_cpp" else ("float32" if dtype == "auto" else dtype)
        dims = (summary.layers, summary.hidden_size, summary.attention_heads, summary.kv_heads)
    else:
        config = json.loads((path / "config.json").read_text())
        fmt = dtype if dtype != "auto" else str(config.get("torch_dtype") or config.get("dtype") or "float32")
        heads = config.get("num_attention_heads", 1)
        dims = (config.get("num_hidden_layers"), config.get("hidden_size"), heads,
                config.get("num_key_value_heads", heads))
    if not all(dims) or not model.parameter_count and not path.is_file():
        raise BenchsiteError(f"cannot estimate the memory of {model.name}: its shape is unknown")
    parameters = model.parameter_count or int(path.stat().st_size / BYTES_PER_PARAMETER.get(fmt, 1.0))
    return ModelShape(parameters, fmt, *dims)  # type: ignore[arg-type]
