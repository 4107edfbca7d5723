"""A model's serving figures on a catalogue entry: measured where a stored profile matches it, else estimated from
the model's size and the hardware's bandwidth and power (and named in `Figures.estimated`)."""
from __future__ import annotations

from dataclasses import dataclass, field

from costing.calculators import usd_per_1m_tokens
from costing.models import HardwareEntry
from costing.selectors import MeasuredServing, hardware_hourly_usd, matches_hardware, measured_servings
from evaluations.models import ModelEntry, Run
from recommender import estimates


@dataclass
class Figures:
    """A model's serving figures on the chosen hardware; `estimated` names those not measured there."""

    memory_gb: float | None = None
    tokens_per_s: float | None = None  # one request at a time
    p95_latency_ms: float | None = None
    usd_per_1m: float | None = None
    joules_per_token: float | None = None
    estimated: list[str] = field(default_factory=list)
    measured_on: str = ""  # the profile's hardware label, when something was measured

    def value(self, axis: str) -> float | None:
        return getattr(self, axis)


def serving_figures(models: list[ModelEntry], run_of: dict[int, int], *, hardware: HardwareEntry | None,
                    context_tokens: int, user) -> dict[int, Figures]:
    """Every model's figures; `run_of` maps a model to the run its scores come from (for its memory estimate)."""
    servings: dict[int, list[MeasuredServing]] = {}
    for serving in measured_servings(user, model_ids=[model.pk for model in models]):
        servings.setdefault(serving.model_id, []).append(serving)
    runs = _run_estimates(set(run_of.values()))
    return {model.pk: model_figures(model, servings.get(model.pk, []), runs.get(run_of.get(model.pk)),
                                    hardware=hardware, context_tokens=context_tokens)
            for model in models}


def _run_estimates(run_ids: set[int]) -> dict[int, tuple[int | None, dict]]:
    return {pk: (estimate, {"backend_options": options}) for pk, estimate, options in
            Run.objects.filter(pk__in=run_ids).values_list("pk", "estimated_memory_bytes", "config__backend_options")}


def model_figures(model: ModelEntry, servings: list[MeasuredServing], run_estimate: tuple[int | None, dict] | None, *,
                  hardware: HardwareEntry | None, context_tokens: int) -> Figures:
    """Measured on the chosen hardware where a profile matches it, else estimated (and named in `estimated`)."""
    on_hardware = [s for s in servings if matches_hardware(s, hardware)] if hardware else servings
    measured = on_hardware[0] if on_hardware else None
    figures = Figures(measured_on=measured.hardware_label if measured else "")
    weights = estimates.weights_bytes(model.parameter_count, model.quantization, model.dtype)
    estimated_total, config = run_estimate or (None, {})
    options = (config or {}).get("backend_options") or {}
    kv = estimates.kv_bytes_per_token(estimated_total_bytes=estimated_total, weights=weights,
                                      context=options.get("n_ctx", estimates.DEFAULT_CONTEXT),
                                      batch=options.get("batch_size", 1))
    peak = next((s for s in servings if s.peak_memory_bytes), None)
    if peak is not None:
        # Measured at the profile's own context; a longer one adds its KV cache where its size per token is known.
        extra = context_tokens - (peak.context_tokens or context_tokens)
        grow = extra > 0 and kv is not None
        figures.memory_gb = (peak.peak_memory_bytes + (extra * kv if grow else 0)) / 1e9
        if grow:
            figures.estimated.append("memory_gb")
    else:
        total = estimates.memory_bytes(weights=weights, kv_per_token=kv, context=context_tokens)
        figures.memory_gb = total / 1e9 if total is not None else None
        figures.estimated.append("memory_gb")
    full_load = None
    if measured is not None and measured.tokens_per_s:
        figures.tokens_per_s, figures.p95_latency_ms = measured.tokens_per_s, measured.p95_latency_ms
        full_load = measured.tokens_per_s_full_load
        figures.joules_per_token = measured.joules_per_token
        if measured.joules_per_token is not None and not measured.energy_source.startswith("measured"):
            figures.estimated.append("joules_per_token")  # the profiler's own estimate (rated power × CPU time)
    else:
        bandwidth = hardware.memory_bandwidth_gb_s if hardware else None
        figures.tokens_per_s = full_load = estimates.decode_tokens_per_s(weights=weights, bandwidth_gb_s=bandwidth)
        figures.estimated += ["tokens_per_s"]
    if figures.p95_latency_ms is None:
        figures.p95_latency_ms = estimates.latency_ms(figures.tokens_per_s)
        figures.estimated.append("p95_latency_ms")
    if figures.joules_per_token is None:
        figures.joules_per_token = estimates.joules_per_token(power_w=hardware.tdp_w if hardware else None,
                                                              tokens_per_s=full_load)
        figures.estimated.append("joules_per_token")
    hourly = hardware_hourly_usd(hardware) if hardware else None
    if hourly is not None and full_load:
        figures.usd_per_1m = usd_per_1m_tokens(hourly, full_load)
        if "tokens_per_s" in figures.estimated:
            figures.estimated.append("usd_per_1m")
    return figures
