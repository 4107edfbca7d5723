"""The /costs/ form: every TCO input optional (blank: the catalogue's, the profile's or the default), plus the
hardware, the measured profile, the grid region and the load to plan for."""
from __future__ import annotations

from django.http import QueryDict
from rest_framework import serializers

from costing.estimates import OWN, RENT
from costing.grid import REGIONS

OVERRIDABLE = ("hourly_usd", "purchase_usd", "amortization_months", "power_w", "pue", "usd_per_kwh",
               "grid_g_co2_per_kwh", "tokens_per_s", "utilization", "tokens_per_month", "api_usd_per_1m_input",
               "api_usd_per_1m_output", "input_tokens_per_output_token")
DEFAULTS = {"ownership": RENT, "hardware": "nvidia-l4", "region": "world", "pue": "1.2", "usd_per_kwh": "0.15",
            "api_usd_per_1m_input": "0.15", "api_usd_per_1m_output": "0.60", "tokens_per_month": "500000000"}


class CostPageSerializer(serializers.Serializer):
    hardware = serializers.CharField(required=False, allow_blank=True)
    ownership = serializers.ChoiceField(choices=[(RENT, "rented"), (OWN, "owned")], required=False, default=RENT)
    profile = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    region = serializers.ChoiceField(choices=[r.code for r in REGIONS], required=False, allow_blank=True)
    arrival_requests_per_s = serializers.FloatField(required=False, allow_null=True, min_value=0)
    p95_target_ms = serializers.FloatField(required=False, allow_null=True, min_value=0)
    seed = serializers.IntegerField(required=False, default=0, min_value=0)
    upgrade_usd = serializers.FloatField(required=False, allow_null=True, min_value=0)
    upgrade_tokens_per_s = serializers.FloatField(required=False, allow_null=True, min_value=0)
    upgrade_hourly_usd = serializers.FloatField(required=False, allow_null=True, min_value=0)
    horizon_months = serializers.FloatField(required=False, allow_null=True, min_value=1)

    def get_fields(self):
        fields = super().get_fields()
        for name in OVERRIDABLE:
            fields[name] = serializers.FloatField(required=False, allow_null=True, min_value=0,
                                                  max_value=1 if name == "utilization" else None)
        return fields


def page_input(params: QueryDict, *, first_profile: int | None = None) -> dict[str, str]:
    """The submitted fields without blanks. A first visit (nothing submitted) starts from DEFAULTS and the newest
    measured profile, so the page opens on a worked example."""
    if not params:
        return {**DEFAULTS, **({"profile": str(first_profile)} if first_profile else {})}
    return {name: value for name, value in params.items() if value.strip() != ""}
