"""The TCO calculator's JSON: inputs validated field by field, and the outputs of costing.calculators.tco."""
from __future__ import annotations

from rest_framework import serializers

from costing.calculators import DEFAULT_INPUT_PER_OUTPUT, TcoInputs, input_errors


def _number(help_text: str, **options) -> serializers.FloatField:
    options.setdefault("required", False)
    options.setdefault("allow_null", not options.get("required"))
    return serializers.FloatField(min_value=0, help_text=help_text, **options)


class TcoInputSerializer(serializers.Serializer):
    """docs/costing.md: money in USD, one month = 730 h."""

    hourly_usd = _number("Rent of one replica per hour (rented hardware)")
    purchase_usd = _number("Purchase price (owned hardware); needs amortization_months")
    amortization_months = _number("Months over which the purchase is written off")
    power_w = _number("Power the replica draws", default=0.0, allow_null=False)
    pue = _number("Power usage effectiveness of the facility (≥ 1)", default=1.0, allow_null=False)
    usd_per_kwh = _number("Electricity price", default=0.0, allow_null=False)
    grid_g_co2_per_kwh = _number("Grid carbon intensity (g CO₂e/kWh)", default=0.0, allow_null=False)
    tokens_per_s = _number("Measured throughput of one replica at full load", required=True)
    utilization = _number("Share of full-load throughput actually used, 0–1", default=1.0, allow_null=False,
                          max_value=1)
    tokens_per_month = _number("Tokens you expect a month (for the savings against the API)")
    api_usd_per_1m_input = _number("API price per 1M input tokens")
    api_usd_per_1m_output = _number("API price per 1M output tokens")
    input_tokens_per_output_token = _number("Input tokens per output token in the blend (r)",
                                            default=DEFAULT_INPUT_PER_OUTPUT, allow_null=False)

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        return super().to_internal_value(data)

    def validate(self, attrs: dict) -> dict:
        errors = input_errors(self.inputs_of(attrs))
        if errors:
            raise serializers.ValidationError({name: [message] for name, message in errors.items()})
        return attrs

    @staticmethod
    def inputs_of(attrs: dict) -> TcoInputs:
        return TcoInputs(**{name: value for name, value in attrs.items() if name in TcoInputs.__dataclass_fields__})


class TcoOutputSerializer(serializers.Serializer):
    hourly_capital_usd = serializers.FloatField(help_text="Rent, or purchase / (amortization_months × 730)")
    hourly_energy_usd = serializers.FloatField(help_text="power_w / 1000 × pue × usd_per_kwh")
    hourly_cost_usd = serializers.FloatField(help_text="Capital or rent plus energy")
    usd_per_1m_tokens = serializers.FloatField(help_text="hourly_cost_usd / (tokens_per_s × 3600 × utilization) × 10⁶")
    monthly_cost_usd = serializers.FloatField(help_text="hourly_cost_usd × 730")
    tokens_capacity_per_month = serializers.FloatField(help_text="tokens_per_s × 3600 × 730 × utilization")
    energy_kwh_per_month = serializers.FloatField(help_text="power_w / 1000 × pue × 730")
    co2_kg_per_month = serializers.FloatField(help_text="energy_kwh_per_month × grid_g_co2_per_kwh / 1000")
    blended_api_usd_per_1m = serializers.FloatField(allow_null=True, help_text="(r·in + out) / (r + 1)")
    break_even_tokens_per_month = serializers.FloatField(
        allow_null=True, help_text="monthly_cost_usd / blended_api_usd_per_1m × 10⁶; null without API prices")
    savings_usd_per_month = serializers.FloatField(
        allow_null=True, help_text="API cost of tokens_per_month − monthly_cost_usd; null unless both are given")
