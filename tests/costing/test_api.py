"""POST /api/v1/costs/tco/: docs/costing.md's names and definitions, and 400s with field errors."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

URL = "/api/v1/costs/tco/"


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.mark.django_db
def test_rented_replica_with_an_api_to_compare(api):
    response = api.post(URL, {"hourly_usd": 1.5, "tokens_per_s": 2000, "power_w": 700, "pue": 1.2, "usd_per_kwh": 0.1,
                              "grid_g_co2_per_kwh": 400, "utilization": 0.5, "api_usd_per_1m_input": 3,
                              "api_usd_per_1m_output": 15, "tokens_per_month": 1e9}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    hourly = 1.5 + 0.7 * 1.2 * 0.1
    assert data["hourly_cost_usd"] == pytest.approx(hourly)
    assert data["usd_per_1m_tokens"] == pytest.approx(hourly / (2000 * 3600 * 0.5) * 1e6)
    assert data["monthly_cost_usd"] == pytest.approx(hourly * 730)
    assert data["energy_kwh_per_month"] == pytest.approx(0.7 * 1.2 * 730)
    assert data["co2_kg_per_month"] == pytest.approx(0.7 * 1.2 * 730 * 400 / 1000)
    assert data["blended_api_usd_per_1m"] == pytest.approx(6.0)
    assert data["break_even_tokens_per_month"] == pytest.approx(hourly * 730 / 6 * 1e6)
    assert data["savings_usd_per_month"] == pytest.approx(1000 * 6 - hourly * 730)


@pytest.mark.django_db
def test_owned_hardware_and_the_defaults(api):
    data = api.post(URL, {"purchase_usd": 15000, "amortization_months": 36, "tokens_per_s": 100},
                    format="json").json()
    assert data["monthly_cost_usd"] == pytest.approx(416.67, rel=0.005)
    assert data["co2_kg_per_month"] == 0 and data["break_even_tokens_per_month"] is None


@pytest.mark.django_db
@pytest.mark.parametrize("body, field", [
    ({"hourly_usd": 1, "tokens_per_s": 0}, "tokens_per_s"),
    ({"hourly_usd": 1, "tokens_per_s": 10, "utilization": 1.5}, "utilization"),
    ({"hourly_usd": -1, "tokens_per_s": 10}, "hourly_usd"),
    ({"hourly_usd": "cheap", "tokens_per_s": 10}, "hourly_usd"),
    ({"hourly_usd": 1}, "tokens_per_s"),
    ({"tokens_per_s": 10}, "hourly_usd"),
    ({"purchase_usd": 100, "tokens_per_s": 10}, "amortization_months"),
    ({"hourly_usd": 1, "tokens_per_s": 10, "pue": 0.5}, "pue"),
    ({"hourly_usd": 1, "tokens_per_s": 10, "gpu_count": 2}, "gpu_count"),
])
def test_bad_input_is_a_400_with_the_field(api, body, field):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
