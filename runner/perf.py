"""Performance metric maths: latency percentiles, throughput, energy from counters or power samples, carbon.

Pure functions over numbers, shared by the local profiler (runner.profiling) and the OpenAI-server load
generator, so both store the same record shape. What cannot be measured is None ("unavailable"), never 0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy.integrate import trapezoid

PERCENTILES = (50, 95, 99)
JOULES_PER_KWH = 3.6e6

# How an energy figure was obtained; stored with every figure.
MEASURED_NVML = "measured-nvml"  # the GPU's own total-energy counter (or its power readings)
MEASURED_RAPL = "measured-rapl"  # the CPU package counters in /sys/class/powercap
ESTIMATED = "estimated"  # rated CPU power × the process tree's CPU utilisation
ENERGY_SOURCES = (MEASURED_NVML, MEASURED_RAPL, ESTIMATED)

# Rated power per logical CPU used for estimates when no counter is readable: between a 64-core
# 280 W server part (4.4 W per core) and an 8-core 125 W desktop part (15.6 W per core).
DEFAULT_WATTS_PER_CPU = 10.0


def latency_summary(values_ms: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99 (numpy's default linear interpolation) and the mean; all None without values."""
    if len(values_ms) == 0:
        return {**{f"p{p}": None for p in PERCENTILES}, "mean": None}
    values = np.asarray(values_ms, dtype=float)
    points = np.percentile(values, PERCENTILES)
    return {**{f"p{p}": float(v) for p, v in zip(PERCENTILES, points)}, "mean": float(values.mean())}


def rate_per_second(count: float, seconds: float) -> float | None:
    """Tokens or requests per second; None when nothing was timed."""
    return count / seconds if seconds > 0 else None


def trapezoid_energy_joules(timestamps_s: Sequence[float], watts: Sequence[float]) -> float | None:
    """Energy of a power curve sampled at `timestamps_s`: the trapezoid integral of watts over seconds."""
    if len(timestamps_s) < 2:
        return None
    return float(trapezoid(np.asarray(watts, dtype=float), np.asarray(timestamps_s, dtype=float)))


def interval_energy_joules(timestamps_s: Sequence[float], interval_watts: Sequence[float]) -> float | None:
    """Energy when each power figure is the mean over an interval (from CPU-time deltas), not a reading.

    `interval_watts[i]` is the mean power between `timestamps_s[i]` and `timestamps_s[i + 1]`.
    """
    if len(timestamps_s) < 2:
        return None
    if len(interval_watts) != len(timestamps_s) - 1:
        raise ValueError("need one power figure per interval between timestamps")
    return float(np.dot(np.diff(np.asarray(timestamps_s, dtype=float)), np.asarray(interval_watts, dtype=float)))


def counter_delta(previous: float, current: float, max_range: float) -> float:
    """Increase of a counter that wraps to 0 after `max_range` (RAPL's energy_uj and max_energy_range_uj).

    Sampled often enough that it wraps at most once between two readings.
    """
    return current - previous if current >= previous else max_range - previous + current


def estimated_cpu_watts(utilisation_percent: float, *, rated_watts: float) -> float:
    """Power drawn at a machine-wide CPU utilisation (0–100) by CPUs of `rated_watts` in all."""
    return rated_watts * utilisation_percent / 100.0


def default_rated_cpu_watts(cpu_count: int) -> float:
    return DEFAULT_WATTS_PER_CPU * cpu_count


def joules_per_1k_tokens(joules: float | None, tokens: int) -> float | None:
    if joules is None or tokens <= 0:
        return None
    return joules * 1000.0 / tokens


def kilowatt_hours(joules: float | None) -> float | None:
    return None if joules is None else joules / JOULES_PER_KWH


def carbon_grams(joules: float | None, grid_g_per_kwh: float | None) -> float | None:
    """Grams of CO2-equivalent: energy in kWh × the grid's carbon intensity (g/kWh)."""
    kwh = kilowatt_hours(joules)
    return None if kwh is None or grid_g_per_kwh is None else kwh * grid_g_per_kwh


@dataclass(frozen=True)
class EnergyFigures:
    joules: float | None
    source: str | None  # one of ENERGY_SOURCES; None when unavailable
    joules_per_1k_output_tokens: float | None
    kwh: float | None
    carbon_g: float | None
    grid_g_per_kwh: float | None

    @classmethod
    def of(cls, joules: float | None, source: str | None, *, output_tokens: int, grid_g_per_kwh: float | None):
        return cls(
            joules=joules,
            source=source if joules is not None else None,
            joules_per_1k_output_tokens=joules_per_1k_tokens(joules, output_tokens),
            kwh=kilowatt_hours(joules),
            carbon_g=carbon_grams(joules, grid_g_per_kwh),
            grid_g_per_kwh=grid_g_per_kwh,
        )

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RequestTiming:
    """One request as a client saw it, in seconds on one monotonic clock (time.perf_counter)."""

    started_s: float
    first_token_s: float | None  # None when no token came back
    finished_s: float
    prompt_tokens: int
    output_tokens: int

    @property
    def time_to_first_token_ms(self) -> float | None:
        return None if self.first_token_s is None else (self.first_token_s - self.started_s) * 1000

    @property
    def end_to_end_ms(self) -> float:
        return (self.finished_s - self.started_s) * 1000

    @property
    def inter_token_ms(self) -> float | None:
        """Mean gap between output tokens after the first (the decode speed a reader sees)."""
        if self.first_token_s is None or self.output_tokens < 2:
            return None
        return (self.finished_s - self.first_token_s) * 1000 / (self.output_tokens - 1)


@dataclass(frozen=True)
class ConcurrencyPoint:
    """Latency and throughput of requests sent `concurrency` at a time: one point of a load curve.

    Local backends serve one request at a time (concurrency 1); the load generator fills in more points.
    """

    concurrency: int
    requests: int
    duration_s: float
    requests_per_s: float | None
    output_tokens_per_s: float | None
    prompt_tokens_per_s: float | None  # prompt tokens over time to first token: prefill speed
    time_to_first_token_ms: dict
    inter_token_ms: dict
    end_to_end_ms: dict
    prompt_tokens: int
    output_tokens: int

    def as_dict(self) -> dict:
        return asdict(self)


def summarize_requests(timings: Sequence[RequestTiming], *, concurrency: int) -> ConcurrencyPoint:
    """Aggregate request timings; duration runs from the first start to the last finish."""
    if not timings:
        raise ValueError("no request timings to summarize")
    duration = max(t.finished_s for t in timings) - min(t.started_s for t in timings)
    first_tokens = [t.time_to_first_token_ms for t in timings if t.time_to_first_token_ms is not None]
    inter_token = [t.inter_token_ms for t in timings if t.inter_token_ms is not None]
    prefilled = [t for t in timings if t.time_to_first_token_ms]
    prompt_tokens = sum(t.prompt_tokens for t in timings)
    output_tokens = sum(t.output_tokens for t in timings)
    return ConcurrencyPoint(
        concurrency=concurrency,
        requests=len(timings),
        duration_s=duration,
        requests_per_s=rate_per_second(len(timings), duration),
        output_tokens_per_s=rate_per_second(output_tokens, duration),
        prompt_tokens_per_s=rate_per_second(
            sum(t.prompt_tokens for t in prefilled), sum(t.time_to_first_token_ms for t in prefilled) / 1000
        ),
        time_to_first_token_ms=latency_summary(first_tokens),
        inter_token_ms=latency_summary(inter_token),
        end_to_end_ms=latency_summary([t.end_to_end_ms for t in timings]),
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
    )
