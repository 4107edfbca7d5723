"""Cost, energy and carbon of serving a model: pure functions of numbers (no Django, no ORM).

Definitions are those of docs/costing.md (all money in USD, one month = 730 h). The TCO arithmetic works
on floats and on numpy arrays alike, so the Monte Carlo evaluates the same formula on every draw at once.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

HOURS_PER_MONTH = 730.0
SECONDS_PER_HOUR = 3600.0
JOULES_PER_KWH = 3.6e6
TOKENS_PER_MILLION = 1e6
DEFAULT_INPUT_PER_OUTPUT = 3.0  # Artificial Analysis' blend: three input tokens per output token
SENSITIVITY = 0.2  # the tornado moves each input by ±20%
MONTE_CARLO_DRAWS = 4000
MONTE_CARLO_SEED = 0
# Inputs that carry uncertainty (the tornado's bars, the Monte Carlo's draws); the others are choices.
UNCERTAIN_INPUTS = ("hourly_usd", "purchase_usd", "amortization_months", "power_w", "pue", "usd_per_kwh",
                    "grid_g_co2_per_kwh", "tokens_per_s", "utilization")


@dataclass(frozen=True)
class TcoInputs:
    """One replica's hardware, its measured throughput at full load and how busy it is.

    Rented (`hourly_usd`) or owned (`purchase_usd` over `amortization_months`); both may be given, and add.
    """

    tokens_per_s: float
    power_w: float = 0.0
    hourly_usd: float | None = None
    purchase_usd: float | None = None
    amortization_months: float | None = None
    pue: float = 1.0
    usd_per_kwh: float = 0.0
    grid_g_co2_per_kwh: float = 0.0
    utilization: float = 1.0
    tokens_per_month: float | None = None
    api_usd_per_1m_input: float | None = None
    api_usd_per_1m_output: float | None = None
    input_tokens_per_output_token: float = DEFAULT_INPUT_PER_OUTPUT

    def scaled(self, name: str, factor: float) -> TcoInputs:
        """The same inputs with one of them multiplied by `factor`, kept in range (utilisation ≤ 1, PUE ≥ 1)."""
        return replace(self, **{name: _in_range(name, getattr(self, name) * factor)})


@dataclass(frozen=True)
class TcoResult:
    hourly_capital_usd: float
    hourly_energy_usd: float
    hourly_cost_usd: float
    usd_per_1m_tokens: float
    monthly_cost_usd: float
    tokens_capacity_per_month: float  # at the given utilisation
    energy_kwh_per_month: float
    co2_kg_per_month: float
    blended_api_usd_per_1m: float | None
    break_even_tokens_per_month: float | None
    savings_usd_per_month: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def _in_range(name: str, value):
    if name == "utilization":
        return np.minimum(value, 1.0) if isinstance(value, np.ndarray) else min(value, 1.0)
    if name == "pue":
        return np.maximum(value, 1.0) if isinstance(value, np.ndarray) else max(value, 1.0)
    return value


def input_errors(inputs: TcoInputs) -> dict[str, str]:
    """What is wrong with the inputs, per field; empty when they can be costed."""
    errors: dict[str, str] = {}
    for field in fields(inputs):
        value = getattr(inputs, field.name)
        if value is not None and (not math.isfinite(value) or value < 0):
            errors[field.name] = "must be a finite number ≥ 0"
    if "tokens_per_s" not in errors and inputs.tokens_per_s <= 0:
        errors["tokens_per_s"] = "must be above 0: a replica that produces no tokens has no cost per token"
    if "utilization" not in errors and not 0 < inputs.utilization <= 1:
        errors["utilization"] = "must be above 0 and at most 1"
    if "pue" not in errors and inputs.pue < 1:
        errors["pue"] = "must be at least 1 (1.0: every watt reaches the hardware)"
    if inputs.purchase_usd is not None and not inputs.amortization_months:
        errors.setdefault("amortization_months", "give the months over which the purchase is written off (> 0)")
    if inputs.hourly_usd is None and inputs.purchase_usd is None:
        errors.setdefault("hourly_usd", "give hourly_usd (rented) or purchase_usd with amortization_months (owned)")
    if (inputs.api_usd_per_1m_input is None) != (inputs.api_usd_per_1m_output is None):
        errors.setdefault("api_usd_per_1m_output", "give both API prices (input and output) or neither")
    return errors


# -- the pieces -----------------------------------------------------------------------------------
def hourly_capital_usd(purchase_usd, amortization_months):
    """Straight-line write-off: purchase / (months × 730 h)."""
    return purchase_usd / (amortization_months * HOURS_PER_MONTH)


def hourly_energy_usd(power_w, pue, usd_per_kwh):
    return power_w / 1000 * pue * usd_per_kwh


def usd_per_1m_tokens(hourly_cost_usd, tokens_per_s, utilization=1.0):
    """NVIDIA's TCO method: hourly cost ÷ (tokens/s × 3600 × utilisation) × 10⁶."""
    return hourly_cost_usd / (tokens_per_s * SECONDS_PER_HOUR * utilization) * TOKENS_PER_MILLION


def blended_price(usd_per_1m_input: float, usd_per_1m_output: float,
                  input_per_output: float = DEFAULT_INPUT_PER_OUTPUT) -> float:
    """(r·in + out) / (r + 1), r input tokens per output token."""
    return (input_per_output * usd_per_1m_input + usd_per_1m_output) / (input_per_output + 1)


def break_even_tokens_per_month(monthly_cost_usd: float, api_usd_per_1m: float) -> float | None:
    """Tokens a month above which owning or renting costs less than the API; None when the API is free."""
    if api_usd_per_1m <= 0:
        return None
    return monthly_cost_usd / api_usd_per_1m * TOKENS_PER_MILLION


def capital_recovery_factor(annual_rate: float, years: float) -> float:
    """The share of a purchase repaid each year at `annual_rate` over `years`: i(1+i)ⁿ / ((1+i)ⁿ − 1)."""
    if years <= 0:
        raise ValueError("years must be positive")
    if annual_rate == 0:
        return 1 / years
    growth = (1 + annual_rate) ** years
    return annual_rate * growth / (growth - 1)


def energy_kwh_per_1m_tokens(joules_per_token: float, pue: float = 1.0) -> float:
    """Energy of a million tokens from a measured J/token, at the facility (× PUE)."""
    return joules_per_token * TOKENS_PER_MILLION / JOULES_PER_KWH * pue


def tco(inputs: TcoInputs) -> TcoResult:
    """Every output of docs/costing.md. Raises ValueError with the field errors on bad inputs."""
    errors = input_errors(inputs)
    if errors:
        raise ValueError(errors)
    capital = 0.0
    if inputs.purchase_usd is not None:
        capital = hourly_capital_usd(inputs.purchase_usd, inputs.amortization_months)
    rent = inputs.hourly_usd or 0.0
    energy_usd = hourly_energy_usd(inputs.power_w, inputs.pue, inputs.usd_per_kwh)
    hourly = capital + rent + energy_usd
    monthly = hourly * HOURS_PER_MONTH
    energy_kwh = inputs.power_w / 1000 * inputs.pue * HOURS_PER_MONTH
    blended = None
    break_even = savings = None
    if inputs.api_usd_per_1m_input is not None and inputs.api_usd_per_1m_output is not None:
        blended = blended_price(inputs.api_usd_per_1m_input, inputs.api_usd_per_1m_output,
                                inputs.input_tokens_per_output_token)
        break_even = break_even_tokens_per_month(monthly, blended)
        if inputs.tokens_per_month is not None:
            savings = inputs.tokens_per_month / TOKENS_PER_MILLION * blended - monthly
    return TcoResult(
        hourly_capital_usd=capital + rent,
        hourly_energy_usd=energy_usd,
        hourly_cost_usd=hourly,
        usd_per_1m_tokens=usd_per_1m_tokens(hourly, inputs.tokens_per_s, inputs.utilization),
        monthly_cost_usd=monthly,
        tokens_capacity_per_month=inputs.tokens_per_s * SECONDS_PER_HOUR * HOURS_PER_MONTH * inputs.utilization,
        energy_kwh_per_month=energy_kwh,
        co2_kg_per_month=energy_kwh * inputs.grid_g_co2_per_kwh / 1000,
        blended_api_usd_per_1m=blended,
        break_even_tokens_per_month=break_even,
        savings_usd_per_month=savings,
    )


# -- an upgrade -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Upgrade:
    monthly_savings_usd: float
    payback_months: float | None  # None: it never pays back
    roi: float  # (savings over the horizon − upgrade cost) / upgrade cost
    horizon_months: float


def replicas_for_volume(tokens_per_month: float, capacity_per_replica: float) -> int:
    """Replicas that serve a monthly volume, each producing `capacity_per_replica` tokens a month (at least one)."""
    if capacity_per_replica <= 0:
        raise ValueError("a replica's capacity must be positive")
    return max(1, math.ceil(tokens_per_month / capacity_per_replica - 1e-9))


def upgrade_return(*, upgrade_usd: float, monthly_cost_before_usd: float, monthly_cost_after_usd: float,
                   horizon_months: float) -> Upgrade:
    """Payback and return of spending `upgrade_usd` to lower a monthly cost, over `horizon_months`."""
    if upgrade_usd <= 0 or horizon_months <= 0:
        raise ValueError("the upgrade's cost and the horizon must be positive")
    savings = monthly_cost_before_usd - monthly_cost_after_usd
    payback = upgrade_usd / savings if savings > 0 else None
    return Upgrade(savings, payback, (savings * horizon_months - upgrade_usd) / upgrade_usd, horizon_months)


# -- utilisation from a measured load curve ---------------------------------------------------------
@dataclass(frozen=True)
class LoadPoint:
    """One concurrency level of a load test or profile: measured throughput and tail latency."""

    concurrency: int
    requests_per_s: float
    output_tokens_per_s: float
    p95_latency_ms: float | None


@dataclass(frozen=True)
class Capacity:
    """Replicas needed for an arrival rate under a p95 target, read off the measured curve."""

    replicas: int
    level: LoadPoint  # the busiest measured level that meets the target
    utilization: float  # the load each replica carries / its throughput at full load (the curve's maximum)
    requests_in_flight: float  # per replica, by Little's law: arrival rate × time in the system
    tokens_per_s_at_full_load: float  # per replica: the curve's maximum


def replicas_for_load(curve: Sequence[LoadPoint], *, arrival_requests_per_s: float,
                      p95_target_ms: float) -> Capacity | None:
    """Little's law on the measured curve; None when no measured level meets the p95 target.

    A replica run at concurrency c serves X(c) requests/s with mean time in the system W = c / X(c) (L = λW).
    The busiest level whose p95 meets the target sets the replica's capacity; replicas = ⌈λ / X(c)⌉. The
    utilisation is the load per replica over the curve's maximum throughput, which is what a replica could
    produce at full load, and is what the TCO divides by.
    """
    if arrival_requests_per_s <= 0 or p95_target_ms <= 0:
        raise ValueError("the arrival rate and the p95 target must be positive")
    measured = [point for point in curve if point.requests_per_s and point.requests_per_s > 0]
    meeting = [point for point in measured if point.p95_latency_ms is not None and point.p95_latency_ms <= p95_target_ms]
    if not meeting:
        return None
    level = max(meeting, key=lambda point: point.requests_per_s)
    replicas = max(1, math.ceil(arrival_requests_per_s / level.requests_per_s - 1e-9))
    per_replica = arrival_requests_per_s / replicas
    peak = max(measured, key=lambda point: point.requests_per_s)
    time_in_system_s = level.concurrency / level.requests_per_s
    return Capacity(replicas, level, min(1.0, per_replica / peak.requests_per_s), per_replica * time_in_system_s,
                    max(point.output_tokens_per_s for point in measured))


# -- sensitivity and uncertainty -------------------------------------------------------------------
@dataclass(frozen=True)
class TornadoBar:
    name: str
    low_input: float
    high_input: float
    output_at_low: float
    output_at_high: float

    @property
    def swing(self) -> float:
        return abs(self.output_at_high - self.output_at_low)


def tornado(inputs: TcoInputs, *, output: str = "usd_per_1m_tokens",
            sensitivity: float = SENSITIVITY) -> list[TornadoBar]:
    """Each uncertain input moved by ±`sensitivity` alone; bars sorted by swing, widest first.

    Inputs that are absent or zero are left out (moving zero does nothing); utilisation stays ≤ 1.
    """
    bars = []
    for name in UNCERTAIN_INPUTS:
        value = getattr(inputs, name)
        if not value:
            continue
        low, high = inputs.scaled(name, 1 - sensitivity), inputs.scaled(name, 1 + sensitivity)
        bars.append(TornadoBar(name, getattr(low, name), getattr(high, name),
                               getattr(tco(low), output), getattr(tco(high), output)))
    return sorted(bars, key=lambda bar: bar.swing, reverse=True)


@dataclass(frozen=True)
class Percentiles:
    p10: float
    p50: float
    p90: float


def monte_carlo(inputs: TcoInputs, *, spread: float = SENSITIVITY, draws: int = MONTE_CARLO_DRAWS,
                seed: int = MONTE_CARLO_SEED) -> dict[str, Percentiles]:
    """P10/P50/P90 of $/1M tokens, monthly cost and CO₂ when every uncertain input is drawn, independently and
    uniformly, within ±`spread` of its value (utilisation capped at 1, PUE at least 1). Seeded, so a page is reproducible."""
    errors = input_errors(inputs)
    if errors:
        raise ValueError(errors)
    rng = np.random.default_rng(seed)
    drawn: dict[str, np.ndarray | float | None] = {}
    for field in fields(inputs):
        value = getattr(inputs, field.name)
        if field.name in UNCERTAIN_INPUTS and value:
            drawn[field.name] = _in_range(field.name, value * rng.uniform(1 - spread, 1 + spread, draws))
        else:
            drawn[field.name] = value
    utilization = np.broadcast_to(drawn["utilization"], (draws,))
    capital = np.zeros(draws)
    if inputs.purchase_usd is not None:
        capital = hourly_capital_usd(drawn["purchase_usd"], drawn["amortization_months"])
    rent = drawn["hourly_usd"] if drawn["hourly_usd"] is not None else 0.0
    hourly = capital + rent + hourly_energy_usd(drawn["power_w"], drawn["pue"], drawn["usd_per_kwh"])
    energy_kwh = np.broadcast_to(np.asarray(drawn["power_w"]) / 1000 * drawn["pue"] * HOURS_PER_MONTH, (draws,))
    outputs = {
        "usd_per_1m_tokens": usd_per_1m_tokens(hourly, drawn["tokens_per_s"], utilization),
        "monthly_cost_usd": np.broadcast_to(hourly * HOURS_PER_MONTH, (draws,)),
        "co2_kg_per_month": energy_kwh * drawn["grid_g_co2_per_kwh"] / 1000,
    }
    return {name: Percentiles(*(float(q) for q in np.quantile(values, [0.1, 0.5, 0.9])))
            for name, values in outputs.items()}
