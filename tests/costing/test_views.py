"""/costs/: catalogue and measured profile fill the inputs, a load curve sets replicas and utilisation, errors show."""
from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from costing.models import HardwareEntry
from costing.selectors import hardware_catalogue
from tests.leaderboard.factories import ModelEntryFactory, RunFactory
from tests.recommender.conftest import profile

URL = "costing:costs"


@pytest.fixture
def gpu(db) -> HardwareEntry:
    return HardwareEntry.objects.create(
        slug="test-gpu", name="Test GPU", kind="gpu", memory_gb=24, memory_bandwidth_gb_s=300, tdp_w=100,
        purchase_usd=2000, cloud_usd_per_hour=0.9, profile_match="Test GPU", source="test", source_date=date(2025, 1, 1))


@pytest.fixture
def measured(db):
    model = ModelEntryFactory(name="served")
    # One request: 50 tokens/s; 4 at once: 2 requests/s and 160 tokens/s within 800 ms p95; 8 at once: too slow.
    return profile(model, tokens_per_s=50, p95_ms=400, memory_gb=1.0, joules_per_token=0.2, label="Test GPU ×1",
                   curve=[(4, 2.0, 160, 800), (8, 2.5, 200, 2000)])


def test_catalogue_and_profile_fill_the_inputs_and_the_load_curve_sets_utilisation(client, gpu, measured):
    response = client.get(reverse(URL), {"hardware": "test-gpu", "profile": measured.pk, "arrival_requests_per_s": "3",
                                         "p95_target_ms": "1000", "pue": "1.0"})
    estimate = response.context["estimate"]
    assert estimate.capacity.replicas == 2  # ⌈3 / 2⌉ at concurrency 4
    assert estimate.inputs.utilization == pytest.approx(1.5 / 2.5)  # 1.5 requests/s each, the curve's top is 2.5
    assert estimate.inputs.tokens_per_s == 200  # full load: the curve's best level
    assert estimate.inputs.hourly_usd == 0.9 and estimate.inputs.power_w == 100
    assert estimate.result.usd_per_1m_tokens == pytest.approx(0.9 / (200 * 3600 * 0.6) * 1e6)
    assert estimate.energy_measured and estimate.energy_kwh_per_1m_tokens == pytest.approx(0.2 * 1e6 / 3.6e6)
    assert estimate.energy_source == "the profile's J/token, measured-rapl"
    assert estimate.sources["utilization"] == "from the load curve"
    html = response.content.decode()
    assert 'id="tornado-chart"' in html and 'id="replicas">2<' in html
    # The same hourly cost and utilisation price every measured serving: here the one profile, on this hardware.
    [row] = estimate.servings
    assert row.on_this_hardware and row.usd_per_1m_tokens == pytest.approx(estimate.result.usd_per_1m_tokens)


def test_a_first_visit_starts_from_the_defaults_and_owned_hardware_is_written_off(client, gpu):
    response = client.get(reverse(URL), {"hardware": "test-gpu", "ownership": "own", "tokens_per_s": "100"})
    estimate = response.context["estimate"]
    assert estimate.inputs.hourly_usd is None
    assert estimate.result.monthly_cost_usd == pytest.approx(2000 / 36 + 0)  # no electricity price given
    assert not estimate.energy_measured  # rated power over throughput: an estimate, labelled so
    assert estimate.energy_source == "estimated from rated power"
    assert "estimated from rated power" in response.content.decode()
    first = client.get(reverse(URL))  # nothing measured yet: a prompt for a throughput, not an error
    assert first.status_code == 200 and first.context["values"]["hardware"] == "nvidia-l4"
    assert 'id="cost-start"' in first.content.decode() and not first.context["errors"]


def test_bad_input_lists_the_fields(client, gpu):
    response = client.get(reverse(URL), {"hardware": "test-gpu", "tokens_per_s": "0", "pue": "0.5"},
                          headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'id="cost-errors"' in html and "<strong>tokens_per_s</strong>" in html and "<strong>pue</strong>" in html
    assert "<form" not in html
    wrong_type = client.get(reverse(URL), {"hardware": "test-gpu", "utilization": "2", "power_w": "lots"})
    assert set(wrong_type.context["errors"]) == {"utilization", "power_w"}


def test_a_profile_of_a_private_run_is_not_offered_to_others(client, gpu, django_user_model):
    owner = django_user_model.objects.create_user("owner")
    model = ModelEntryFactory(name="private-model")  # a name no page chrome contains ("hidden" is an input type)
    private = profile(model, tokens_per_s=10, p95_ms=100, memory_gb=1, joules_per_token=1)
    private.run = RunFactory(model=model, is_private=True, created_by=owner)
    private.save(update_fields=["run"])
    response = client.get(reverse(URL), {"hardware": "test-gpu", "profile": private.pk})
    assert "private-model" not in response.content.decode()
    assert response.context["errors"]["profile"]


def test_the_seeded_catalogue_is_versioned_and_sourced(db):
    entries = hardware_catalogue()
    assert {"nvidia-h100-sxm-80gb", "nvidia-l4", "cpu-server-16c"} <= {entry.slug for entry in entries}
    assert all(entry.source and entry.source_date for entry in entries)
    l4 = next(entry for entry in entries if entry.slug == "nvidia-l4")
    newer = HardwareEntry.objects.create(**{**{f.name: getattr(l4, f.name) for f in HardwareEntry._meta.fields
                                               if f.name not in ("id", "created_at")}, "version": 2,
                                            "cloud_usd_per_hour": 0.5})
    assert next(entry for entry in hardware_catalogue() if entry.slug == "nvidia-l4").pk == newer.pk


def test_an_upgrade_that_doubles_throughput_pays_back(client, gpu):
    # 1000 tokens/s at full use is 2,628 M tokens a month a replica; 4,000 M need 2 replicas today, 1 after.
    response = client.get(reverse(URL), {"hardware": "test-gpu", "tokens_per_s": "1000", "tokens_per_month": "4e9",
                                         "upgrade_usd": "1314", "upgrade_tokens_per_s": "2000", "horizon_months": "12"})
    plan = response.context["estimate"].upgrade
    monthly = 0.9 * 730  # $657 a replica
    assert (plan.replicas_before, plan.replicas_after) == (2, 1)
    assert plan.outcome.monthly_savings_usd == pytest.approx(monthly)
    assert plan.outcome.payback_months == pytest.approx(1314 / monthly)  # 2.0 months
    assert plan.outcome.roi == pytest.approx((12 * monthly - 1314) / 1314)
    assert "pays back in <strong>2.0 months</strong>" in response.content.decode()
    without_volume = client.get(reverse(URL), {"hardware": "test-gpu", "tokens_per_s": "1000", "upgrade_usd": "100"})
    assert without_volume.context["estimate"].upgrade is None
    assert "needs the tokens per month" in without_volume.content.decode()


def test_every_measured_serving_is_priced_with_the_chosen_hardware_first(client, gpu, measured):
    other = profile(ModelEntryFactory(name="elsewhere"), tokens_per_s=400, p95_ms=100, memory_gb=1.0,
                    joules_per_token=0.1, label="Other box · 8 CPUs")
    response = client.get(reverse(URL), {"hardware": "test-gpu", "tokens_per_s": "100", "utilization": "0.5"})
    rows = response.context["estimate"].servings
    assert [(row.serving.profile_id, row.on_this_hardware) for row in rows] == [(measured.pk, True), (other.pk, False)]
    assert rows[1].usd_per_1m_tokens == pytest.approx(0.9 / (400 * 3600 * 0.5) * 1e6)
    assert "(other hardware)" in response.content.decode()
