"""POST /api/v1/recommend/: the documented shape, sorted candidates, exclusions, and 400s with field errors."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

URL = "/api/v1/recommend/"


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def test_candidates_sorted_by_score_with_the_documented_fields(market, api):
    body = {"suite": market.suite.pk, "weights": {"reasoning": 1, "math": 1}, "hardware": "test-cpu", "seed": 2,
            "constraints": {"max_memory_gb": 10, "licenses": ["apache-2.0"]}}
    response = api.post(URL, body, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert [c["model"] for c in data["candidates"]] == ["strong", "cheap"]
    first = data["candidates"][0]
    assert set(first) >= {"model", "score", "ci_low", "ci_high", "p_top1", "p_top3", "on_pareto_front", "p_pareto",
                          "memory_gb", "tokens_per_s", "p95_latency_ms", "usd_per_1m", "estimated"}
    assert first["ci_low"] <= first["score"] <= first["ci_high"]
    assert sum(c["p_top1"] for c in data["candidates"]) == pytest.approx(1.0)
    excluded = {e["model"]: e["reasons"] for e in data["excluded"]}
    assert excluded["copyleft"] == ["licence gpl-3.0 is not in the allowed list"]
    assert any("memory" in reason for reason in excluded["huge"])
    assert api.post(URL, body, format="json").json() == data  # seeded: the same answer twice


def test_the_use_case_sets_weights_that_explicit_weights_override(market, api):
    data = api.post(URL, {"use_case": "math", "weights": {"reasoning": 0}}, format="json").json()
    assert data["weights"]["math"] == 4 and data["weights"]["reasoning"] == 0
    # On math alone, GSM8K decides: huge 85%, strong 60%, copyleft 25%, cheap 20%.
    assert [c["model"] for c in data["candidates"]] == ["huge", "strong", "copyleft", "cheap"]
    assert data["candidates"][1]["score"] == pytest.approx(60.0)


@pytest.mark.parametrize("body, field", [
    ({"weights": {"cooking": 1}}, "weights"),
    ({"weights": {"math": -1}}, "weights"),
    ({"constraints": {"max_memory_gb": -2}}, "constraints"),
    ({"constraints": {"min_category": {"math": 140}}}, "constraints"),
    ({"seed": "abc"}, "seed"),
    ({"suite": 999999}, "suite"),
])
def test_bad_input_is_a_400_naming_the_field(db, api, body, field):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_unknown_hardware_is_a_400(market, api):
    response = api.post(URL, {"hardware": "no-such-gpu"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"hardware": ["no hardware 'no-such-gpu' in the catalogue"]}


def test_both_endpoints_are_in_the_openapi_schema(db, api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    recommend = schema["paths"]["/api/v1/recommend/"]["post"]
    tco = schema["paths"]["/api/v1/costs/tco/"]["post"]
    assert recommend["requestBody"] and tco["requestBody"]
    components = schema["components"]["schemas"]
    assert "p_top1" in components["Candidate"]["properties"]
    assert "break_even_tokens_per_month" in components["TcoOutput"]["properties"]


def test_without_any_results_there_is_nothing_to_recommend(db, api):
    response = api.post(URL, {}, format="json")
    assert response.status_code == 404
    assert "no suite version" in response.json()["detail"]
