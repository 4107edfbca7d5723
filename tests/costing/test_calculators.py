"""The TCO arithmetic against published worked examples and hand-computed values."""
from __future__ import annotations

import math

import pytest

from costing import calculators
from costing.calculators import LoadPoint, TcoInputs

RELATIVE = 0.005  # the issue's ±0.5%


def test_nvidia_example_150_per_hour_at_2000_tokens_per_s_is_21_cents_per_million():
    result = calculators.tco(TcoInputs(hourly_usd=1.50, tokens_per_s=2000))
    # 1.50 / (2000 × 3600) × 10⁶ = 0.2083…, published rounded to the cent as $0.21.
    assert result.usd_per_1m_tokens == pytest.approx(1.50 / 7.2, rel=1e-12)
    assert round(result.usd_per_1m_tokens, 2) == 0.21


def test_blended_price_three_in_fifteen_out_at_three_to_one_is_six_dollars():
    assert calculators.blended_price(3, 15, 3) == pytest.approx(6.00, rel=RELATIVE)
    result = calculators.tco(TcoInputs(hourly_usd=1, tokens_per_s=1, api_usd_per_1m_input=3, api_usd_per_1m_output=15))
    assert result.blended_api_usd_per_1m == pytest.approx(6.00, rel=RELATIVE)


def test_break_even_of_320_a_month_against_3_dollars_per_million_is_106_7_million_tokens():
    assert calculators.break_even_tokens_per_month(320, 3) == pytest.approx(106.7e6, rel=RELATIVE)
    # The same through the whole calculation: $320 a month is 320/730 per hour; an API at $3 in and out blends to $3.
    result = calculators.tco(TcoInputs(hourly_usd=320 / 730, tokens_per_s=100, api_usd_per_1m_input=3,
                                       api_usd_per_1m_output=3))
    assert result.monthly_cost_usd == pytest.approx(320)
    assert result.break_even_tokens_per_month == pytest.approx(106.7e6, rel=RELATIVE)


def test_15000_purchase_over_36_months_is_416_67_a_month():
    result = calculators.tco(TcoInputs(purchase_usd=15_000, amortization_months=36, tokens_per_s=100))
    assert result.monthly_cost_usd == pytest.approx(416.67, rel=RELATIVE)
    assert result.hourly_capital_usd == pytest.approx(15_000 / (36 * 730))


def test_every_output_by_hand():
    inputs = TcoInputs(hourly_usd=2.0, power_w=400, pue=1.5, usd_per_kwh=0.10, grid_g_co2_per_kwh=400,
                       tokens_per_s=1000, utilization=0.5, tokens_per_month=2e9, api_usd_per_1m_input=1,
                       api_usd_per_1m_output=5, input_tokens_per_output_token=1)
    result = calculators.tco(inputs)
    hourly = 2.0 + 0.4 * 1.5 * 0.10  # 2.06
    assert result.hourly_energy_usd == pytest.approx(0.06)
    assert result.hourly_cost_usd == pytest.approx(hourly)
    assert result.usd_per_1m_tokens == pytest.approx(hourly / (1000 * 3600 * 0.5) * 1e6)  # 1.1444…
    assert result.monthly_cost_usd == pytest.approx(hourly * 730)  # 1503.8
    assert result.energy_kwh_per_month == pytest.approx(0.4 * 1.5 * 730)  # 438 kWh
    assert result.co2_kg_per_month == pytest.approx(438 * 400 / 1000)  # 175.2 kg
    assert result.blended_api_usd_per_1m == pytest.approx(3.0)
    assert result.break_even_tokens_per_month == pytest.approx(hourly * 730 / 3 * 1e6)
    assert result.savings_usd_per_month == pytest.approx(2000 * 3 - hourly * 730)
    assert result.tokens_capacity_per_month == pytest.approx(1000 * 3600 * 730 * 0.5)


def test_rent_and_purchase_add_and_without_api_prices_there_is_no_break_even():
    result = calculators.tco(TcoInputs(hourly_usd=1.0, purchase_usd=7300, amortization_months=10, tokens_per_s=10))
    assert result.hourly_capital_usd == pytest.approx(2.0)
    assert result.break_even_tokens_per_month is None
    assert result.savings_usd_per_month is None


@pytest.mark.parametrize("change, field", [
    ({"tokens_per_s": 0}, "tokens_per_s"),
    ({"utilization": 1.2}, "utilization"),
    ({"utilization": 0}, "utilization"),
    ({"power_w": -5}, "power_w"),
    ({"pue": 0.8}, "pue"),
    ({"hourly_usd": None}, "hourly_usd"),
    ({"purchase_usd": 1000}, "amortization_months"),
    ({"api_usd_per_1m_input": 1.0}, "api_usd_per_1m_output"),
    ({"usd_per_kwh": math.inf}, "usd_per_kwh"),
])
def test_bad_inputs_name_their_field(change, field):
    inputs = TcoInputs(**{"hourly_usd": 1.0, "tokens_per_s": 100.0, **change})
    assert field in calculators.input_errors(inputs)
    with pytest.raises(ValueError):
        calculators.tco(inputs)


def test_capital_recovery_factor_matches_the_annuity_formula():
    # 10% over 5 years: 0.1 × 1.1⁵ / (1.1⁵ − 1) = 0.263797…
    assert calculators.capital_recovery_factor(0.10, 5) == pytest.approx(0.2637975, rel=1e-6)
    assert calculators.capital_recovery_factor(0.0, 4) == 0.25


def test_upgrade_pays_back_when_it_lowers_the_monthly_cost():
    upgrade = calculators.upgrade_return(upgrade_usd=12_000, monthly_cost_before_usd=3000, monthly_cost_after_usd=2000,
                                         horizon_months=36)
    assert upgrade.monthly_savings_usd == 1000
    assert upgrade.payback_months == pytest.approx(12)
    assert upgrade.roi == pytest.approx((36_000 - 12_000) / 12_000)
    never = calculators.upgrade_return(upgrade_usd=1000, monthly_cost_before_usd=100, monthly_cost_after_usd=150,
                                       horizon_months=12)
    assert never.payback_months is None and never.roi < -1


def test_energy_of_a_million_tokens_from_measured_joules_per_token():
    # 0.36 J/token × 10⁶ = 360 kJ = 0.1 kWh, × PUE 1.2
    assert calculators.energy_kwh_per_1m_tokens(0.36, 1.2) == pytest.approx(0.12)


# -- Little's law on a measured curve -------------------------------------------------------------
CURVE = [
    LoadPoint(concurrency=1, requests_per_s=2.0, output_tokens_per_s=200.0, p95_latency_ms=600.0),
    LoadPoint(concurrency=4, requests_per_s=6.0, output_tokens_per_s=600.0, p95_latency_ms=900.0),
    LoadPoint(concurrency=8, requests_per_s=8.0, output_tokens_per_s=800.0, p95_latency_ms=1500.0),
]


def test_replicas_follow_the_busiest_level_that_meets_the_p95_target():
    capacity = calculators.replicas_for_load(CURVE, arrival_requests_per_s=15, p95_target_ms=1000)
    assert capacity.level.concurrency == 4  # 8 breaks the target
    assert capacity.replicas == 3  # ⌈15 / 6⌉
    assert capacity.utilization == pytest.approx(5 / 8)  # 5 requests/s each, the curve's maximum is 8
    assert capacity.requests_in_flight == pytest.approx(5 * 4 / 6)  # L = λ·W, W = 4 / 6 s
    assert capacity.tokens_per_s_at_full_load == 800


def test_a_loose_target_uses_the_top_of_the_curve_and_an_impossible_one_gives_none():
    capacity = calculators.replicas_for_load(CURVE, arrival_requests_per_s=8, p95_target_ms=5000)
    assert (capacity.replicas, capacity.utilization) == (1, pytest.approx(1.0))
    assert calculators.replicas_for_load(CURVE, arrival_requests_per_s=1, p95_target_ms=100) is None


# -- sensitivity and uncertainty ------------------------------------------------------------------
def test_tornado_moves_each_input_alone_and_sorts_by_swing():
    inputs = TcoInputs(hourly_usd=2.0, power_w=300, usd_per_kwh=0.2, tokens_per_s=1000, utilization=0.8)
    bars = calculators.tornado(inputs)
    by_name = {bar.name: bar for bar in bars}
    base = calculators.tco(inputs).usd_per_1m_tokens
    # Cost per token is inversely proportional to throughput: ×0.8 → ÷0.8.
    assert by_name["tokens_per_s"].output_at_low == pytest.approx(base / 0.8)
    assert by_name["tokens_per_s"].output_at_high == pytest.approx(base / 1.2)
    # Utilisation is capped at 1: +20% of 0.8 is 0.96, not above 1.
    assert by_name["utilization"].high_input == pytest.approx(0.96)
    assert "grid_g_co2_per_kwh" not in by_name  # zero: nothing to move
    swings = [bar.swing for bar in bars]
    assert swings == sorted(swings, reverse=True)
    assert bars[0].name in ("tokens_per_s", "utilization")


def test_monte_carlo_brackets_the_point_estimate_and_is_reproducible():
    inputs = TcoInputs(hourly_usd=2.0, power_w=300, usd_per_kwh=0.2, tokens_per_s=1000, utilization=0.5)
    first = calculators.monte_carlo(inputs, seed=3)
    again = calculators.monte_carlo(inputs, seed=3)
    point = calculators.tco(inputs)
    spread = first["usd_per_1m_tokens"]
    assert first == again
    assert spread.p10 < point.usd_per_1m_tokens < spread.p90
    assert spread.p10 < spread.p50 < spread.p90
    # Within the extremes of ±20% on every input at once.
    assert spread.p10 > point.usd_per_1m_tokens * 0.8 / 1.2 / 1.2
    assert first["co2_kg_per_month"].p90 == 0  # no grid intensity given


def test_replicas_for_a_monthly_volume():
    assert calculators.replicas_for_volume(4e9, 2.628e9) == 2
    assert calculators.replicas_for_volume(2.628e9, 2.628e9) == 1
    assert calculators.replicas_for_volume(0, 1e9) == 1
