"""Reads of costing: each model's cheapest measured price on a catalogue entry, for a cost per accuracy point."""
from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth.models import AnonymousUser

from costing.models import HardwareEntry
from costing.selectors import usd_per_1m_by_model
from tests.leaderboard.factories import ModelEntryFactory
from tests.recommender.conftest import profile


@pytest.mark.django_db
def test_each_models_cheapest_measured_price_on_the_hardware():
    box = HardwareEntry.objects.create(slug="box", name="Box", kind="cpu", memory_gb=64, tdp_w=100,
                                       cloud_usd_per_hour=0.36, profile_match="Box", source="test",
                                       source_date=date(2025, 1, 1))
    one, other = ModelEntryFactory(name="one"), ModelEntryFactory(name="other")
    profile(one, tokens_per_s=100, p95_ms=1, memory_gb=1, joules_per_token=1, label="Box · 4 CPUs")
    faster = profile(one, tokens_per_s=200, p95_ms=1, memory_gb=1, joules_per_token=1, label="Box · 4 CPUs")
    faster.preset = "performance"
    faster.save(update_fields=["preset"])
    profile(other, tokens_per_s=1000, p95_ms=1, memory_gb=1, joules_per_token=1, label="Elsewhere · 4 CPUs")
    prices = usd_per_1m_by_model(hardware=box, user=AnonymousUser())
    assert prices == {one.pk: pytest.approx(0.36 / (200 * 3600) * 1e6)}  # 0.5 $/1M; "other" was measured elsewhere
