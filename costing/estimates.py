"""The /costs/ calculator: a catalogue entry and a measured profile fill in the TCO's inputs, the user overrides any
of them, and the answer comes with its capacity plan, sensitivity, uncertainty and advice."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from django.utils.translation import gettext as _

from benchsite.formats import localize_digits

from costing import calculators
from costing.calculators import Capacity, Percentiles, TcoInputs, TcoResult, TornadoBar, Upgrade
from costing.grid import BY_CODE
from costing.models import HardwareEntry
from costing.selectors import (
    DEFAULT_AMORTIZATION_MONTHS,
    MeasuredServing,
    hardware_find,
    matches_hardware,
    measured_servings,
    serving_find,
)

RENT = "rent"
OWN = "own"
DEFAULT_HORIZON_MONTHS = 36
BATCHING_GAIN = 1.5  # advise batching when the curve's best level gives at least this many times one request's speed


@dataclass
class CostEstimate:
    inputs: TcoInputs
    result: TcoResult
    sources: dict[str, str]  # input name → where its value came from (catalogue, measured, yours, default…)
    hardware: HardwareEntry | None
    serving: MeasuredServing | None
    capacity: Capacity | None
    replicas: int
    energy_kwh_per_1m_tokens: float | None
    energy_measured: bool  # J/token measured (NVML or RAPL) by the profile, not estimated by it or here
    energy_source: str  # where the J/token comes from, in words
    co2_g_per_1m_tokens: float | None
    tornado: list[TornadoBar]
    uncertainty: dict[str, Percentiles]
    advice: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    upgrade: UpgradePlan | None = None
    servings: list[ServingCost] = field(default_factory=list)

    @property
    def monthly_cost_all_replicas_usd(self) -> float:
        return self.result.monthly_cost_usd * self.replicas


@dataclass(frozen=True)
class ServingCost:
    """A measured model × preset × hardware at this page's hourly cost and utilisation."""

    serving: MeasuredServing
    usd_per_1m_tokens: float
    on_this_hardware: bool  # measured on the chosen catalogue entry (its profile_match)


def serving_costs(servings: list[MeasuredServing], *, hourly_cost_usd: float, utilization: float,
                  hardware: HardwareEntry | None) -> list[ServingCost]:
    """Every measured serving priced at the same hourly cost, cheapest per 1M tokens first."""
    rows = [ServingCost(s, calculators.usd_per_1m_tokens(hourly_cost_usd, s.tokens_per_s_full_load, utilization),
                        matches_hardware(s, hardware))
            for s in servings if s.tokens_per_s_full_load]
    return sorted(rows, key=lambda row: (not row.on_this_hardware, row.usd_per_1m_tokens))


@dataclass(frozen=True)
class UpgradePlan:
    """Serving `tokens_per_month` before and after a one-off spend that changes throughput and/or the hourly cost."""

    replicas_before: int
    replicas_after: int
    monthly_before_usd: float
    monthly_after_usd: float
    outcome: Upgrade


def upgrade_plan(inputs: TcoInputs, result: TcoResult, *, upgrade_usd: float, tokens_per_s_after: float | None,
                 hourly_usd_after: float | None, horizon_months: float) -> UpgradePlan:
    """Replicas for the monthly volume at today's figures and after the upgrade, and the upgrade's payback and ROI."""
    volume = inputs.tokens_per_month or 0.0
    after = calculators.tco(replace(inputs, tokens_per_s=tokens_per_s_after or inputs.tokens_per_s,
                                    hourly_usd=hourly_usd_after if hourly_usd_after is not None else inputs.hourly_usd))
    before_replicas = calculators.replicas_for_volume(volume, result.tokens_capacity_per_month)
    after_replicas = calculators.replicas_for_volume(volume, after.tokens_capacity_per_month)
    before, later = before_replicas * result.monthly_cost_usd, after_replicas * after.monthly_cost_usd
    return UpgradePlan(before_replicas, after_replicas, before, later, calculators.upgrade_return(
        upgrade_usd=upgrade_usd, monthly_cost_before_usd=before, monthly_cost_after_usd=later,
        horizon_months=horizon_months))


def cost_estimate(*, data: dict, user,
                  servings: list[MeasuredServing] | None = None) -> tuple[CostEstimate | None, dict[str, list[str]]]:
    """`data` is the page's validated input; returns the estimate or the errors by field. `servings` (the page's
    measured profiles) are priced alongside."""
    hardware = hardware_find(data.get("hardware"))
    serving = serving_find(data.get("profile"), user)
    errors: dict[str, list[str]] = {}
    if data.get("hardware") and hardware is None:
        errors["hardware"] = [_("no hardware %(slug)r in the catalogue") % {"slug": data["hardware"]}]
    if data.get("profile") and serving is None:
        errors["profile"] = [_("no performance profile %(id)r") % {"id": data["profile"]}]
    values, sources, notes = _filled_inputs(data, hardware, serving)
    capacity = None
    if serving is not None and data.get("arrival_requests_per_s") and data.get("p95_target_ms"):
        capacity = calculators.replicas_for_load(serving.curve, arrival_requests_per_s=data["arrival_requests_per_s"],
                                                 p95_target_ms=data["p95_target_ms"])
        if capacity is None:
            notes.append(_("No measured concurrency level meets a p95 of %(target)s ms.")
                         % {"target": localize_digits(f"{data['p95_target_ms']:g}")})
        elif data.get("utilization") is None:
            values["utilization"], sources["utilization"] = capacity.utilization, _("from the load curve")
            values["tokens_per_s"] = data.get("tokens_per_s") or capacity.tokens_per_s_at_full_load
    if "tokens_per_s" not in values:
        errors["tokens_per_s"] = ["pick a measured profile or give the throughput (tokens/s at full load)"]
        values["tokens_per_s"] = 0.0
    inputs = TcoInputs(**values)
    for name, message in calculators.input_errors(inputs).items():
        errors.setdefault(name, [message])
    if errors:
        return None, errors
    result = calculators.tco(inputs)
    joules_per_token = serving.joules_per_token if serving and serving.joules_per_token else None
    from_profile = joules_per_token is not None
    energy_measured = from_profile and serving.energy_source.startswith("measured")
    energy_source = (f"the profile's J/token, {serving.energy_source or 'source not recorded'}" if from_profile
                     else "estimated from rated power")
    if joules_per_token is None and inputs.power_w:
        joules_per_token = inputs.power_w / inputs.tokens_per_s  # rated power at full load: an estimate
    energy = calculators.energy_kwh_per_1m_tokens(joules_per_token, inputs.pue) if joules_per_token else None
    estimate = CostEstimate(
        inputs=inputs, result=result, sources=sources, hardware=hardware, serving=serving, capacity=capacity,
        replicas=capacity.replicas if capacity else 1, energy_kwh_per_1m_tokens=energy, energy_measured=energy_measured,
        energy_source=energy_source,
        co2_g_per_1m_tokens=energy * inputs.grid_g_co2_per_kwh if energy is not None else None,
        tornado=calculators.tornado(inputs), uncertainty=calculators.monte_carlo(inputs, seed=data.get("seed", 0)),
        notes=notes,
    )
    estimate.advice = advice(estimate, measured_servings(user, model_ids=[serving.model_id]) if serving else [])
    estimate.servings = serving_costs(servings or [], hourly_cost_usd=result.hourly_cost_usd,
                                      utilization=inputs.utilization, hardware=hardware)
    if data.get("upgrade_usd"):
        if inputs.tokens_per_month:
            estimate.upgrade = upgrade_plan(inputs, result, upgrade_usd=data["upgrade_usd"],
                                            tokens_per_s_after=data.get("upgrade_tokens_per_s"),
                                            hourly_usd_after=data.get("upgrade_hourly_usd"),
                                            horizon_months=data.get("horizon_months") or DEFAULT_HORIZON_MONTHS)
        else:
            estimate.notes.append(_("An upgrade's payback needs the tokens per month it serves."))
    return estimate, {}


def _filled_inputs(data: dict, hardware: HardwareEntry | None,
                   serving: MeasuredServing | None) -> tuple[dict, dict[str, str], list[str]]:
    """The TCO's inputs: yours where given, else the hardware's and the profile's, else the defaults."""
    values: dict = {}
    sources: dict[str, str] = {}
    notes: list[str] = []

    def take(name: str, fallback, source: str) -> None:
        if data.get(name) is not None:
            values[name], sources[name] = data[name], _("yours")
        elif fallback is not None:
            values[name], sources[name] = fallback, source

    own = data.get("ownership") == OWN
    catalogue = _("catalogue: %(name)s v%(version)s") % {"name": hardware.name, "version": hardware.version} \
        if hardware else ""
    take("hourly_usd", hardware.cloud_usd_per_hour if hardware and not own else None, catalogue)
    take("purchase_usd", hardware.purchase_usd if hardware and own else None, catalogue)
    if values.get("purchase_usd") is not None:
        take("amortization_months", DEFAULT_AMORTIZATION_MONTHS, _("default"))
    take("power_w", hardware.tdp_w if hardware else None, catalogue + " " + _("(rated power)"))
    full_load = serving.tokens_per_s_full_load if serving else None
    take("tokens_per_s", full_load, _("measured: %(profile)s") % {"profile": serving.label} if serving else "")
    region = BY_CODE.get(data.get("region") or "")
    take("grid_g_co2_per_kwh", region.g_co2_per_kwh if region else None,
         _("grid table: %(region)s") % {"region": region.name} if region else "")
    for name in ("pue", "usd_per_kwh", "utilization", "tokens_per_month", "api_usd_per_1m_input",
                 "api_usd_per_1m_output", "input_tokens_per_output_token", "amortization_months"):
        take(name, None, "")
    if "utilization" not in values:
        sources["utilization"] = _("assumed (no load curve used)")
    if serving is not None and hardware is not None and hardware.profile_match and \
            hardware.profile_match.lower() not in serving.hardware_label.lower():
        notes.append(_("The profile was measured on %(measured)s, not on %(hardware)s: its throughput stands for this "
                       "hardware only as a rough guide.")
                     % {"measured": serving.hardware_label, "hardware": hardware.name})
    return values, sources, notes


def advice(estimate: CostEstimate, servings: list[MeasuredServing]) -> list[str]:
    """Cheaper ways to serve the same model that the stored measurements show."""
    tips = []
    serving = estimate.serving
    if serving is None:
        return tips
    single = serving.tokens_per_s
    best = max(serving.curve, key=lambda point: point.output_tokens_per_s, default=None)
    if single and best and best.output_tokens_per_s >= BATCHING_GAIN * single and estimate.inputs.utilization < 0.5:
        gain = localize_digits(f"{best.output_tokens_per_s / single:.1f}")
        tips.append(_("Batching: %(concurrency)s concurrent requests gave %(gain)s× the throughput of one; pooling "
                      "traffic onto fewer replicas raises utilisation and lowers $/1M tokens.")
                    % {"concurrency": best.concurrency, "gain": gain})
    for other in servings:
        if other.profile_id == serving.profile_id or other.hardware_label != serving.hardware_label:
            continue
        if other.tokens_per_s_full_load and serving.tokens_per_s_full_load and \
                other.tokens_per_s_full_load > 1.1 * serving.tokens_per_s_full_load:
            ratio = other.tokens_per_s_full_load / serving.tokens_per_s_full_load
            tips.append(_("Preset %(preset)s measured %(ratio)s× the throughput on the same hardware: about "
                          "%(share)s of this cost per 1M tokens (check its quality on the leaderboard).")
                        % {"preset": other.preset or _("custom"), "ratio": localize_digits(f"{ratio:.1f}"),
                           "share": f"{1 / ratio:.0%}"})
    return tips
