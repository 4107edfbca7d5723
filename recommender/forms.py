"""The /recommend/ form: flat query parameters (w_<category>, min_<category>, one per limit) to the API's nested
input, and back to what the form shows."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.http import QueryDict
from rest_framework import serializers

from recommender.api.serializers import RecommendInputSerializer
from recommender.presets import CATEGORIES, USE_CASES, use_case_weights
from recommender.selectors import AXES

LIMITS = ("max_memory_gb", "min_tokens_per_s", "max_p95_latency_ms", "max_usd_per_1m")
PLAIN = ("suite", "use_case", "hardware", "context_tokens", "seed", "x_axis", "y_axis")
DEFAULT_HARDWARE = "cpu-server-16c"  # the page's starting choice, so the cost axis has figures from the start


class RecommendPageSerializer(RecommendInputSerializer):
    """The API's input plus the chart's two axes, which only the page has."""

    x_axis = serializers.ChoiceField(choices=sorted(AXES), required=False, default="usd_per_1m")
    y_axis = serializers.ChoiceField(choices=sorted(AXES), required=False, default="score")


def nested_input(params: QueryDict, *, reset_weights: bool = False) -> dict:
    """The API's input shape from the form's fields; blank fields are left out (their defaults apply)."""
    data: dict = {name: params[name] for name in PLAIN if params.get(name, "") != ""}
    if "hardware" not in params:
        data["hardware"] = DEFAULT_HARDWARE
    weights = {} if reset_weights else {c: params[f"w_{c}"] for c in CATEGORIES if params.get(f"w_{c}", "") != ""}
    constraints: dict = {name: params[name] for name in LIMITS if params.get(name, "") != ""}
    licenses = [name.strip() for name in params.get("licenses", "").split(",") if name.strip()]
    if licenses:
        constraints["licenses"] = licenses
    minimums = {c: params[f"min_{c}"] for c in CATEGORIES if params.get(f"min_{c}", "") != ""}
    if minimums:
        constraints["min_category"] = minimums
    return {**data, "weights": weights, "constraints": constraints}


@dataclass
class FormState:
    """What the form shows: the submitted values (valid or not), the choices, and the errors by field."""

    values: dict[str, str]
    weights: list[tuple[str, str]]  # (category, weight as typed or the use case's)
    minimums: list[tuple[str, str]]
    errors: dict[str, list[str]] = field(default_factory=dict)
    use_cases = USE_CASES

    def error_for(self, name: str) -> list[str]:
        return self.errors.get(name, [])


def form_state(params: QueryDict, *, reset_weights: bool, errors: dict) -> FormState:
    values = {name: params.get(name, "") for name in (*PLAIN, *LIMITS, "licenses")}
    if "hardware" not in params:
        values["hardware"] = DEFAULT_HARDWARE
    preset = use_case_weights(values["use_case"] or None)
    weights = [(c, f"{preset[c]:g}" if reset_weights or params.get(f"w_{c}", "") == "" else params[f"w_{c}"])
               for c in CATEGORIES]
    minimums = [(c, params.get(f"min_{c}", "")) for c in CATEGORIES]
    return FormState(values, weights, minimums, _flat_errors(errors))


def _flat_errors(errors: dict) -> dict[str, list[str]]:
    """DRF's nested errors keyed by the form's field names."""
    flat: dict[str, list[str]] = {}
    for name, problem in errors.items():
        if isinstance(problem, dict):
            for inner, messages in problem.items():
                key = {"min_category": "min", "weights": "w"}.get(name)
                flat[f"{key}_{inner}" if key else inner] = [str(m) for m in _as_list(messages)]
        else:
            flat[name] = [str(m) for m in _as_list(problem)]
    return flat


def _as_list(messages) -> list:
    if isinstance(messages, dict):
        return [f"{key}: {' '.join(map(str, _as_list(value)))}" for key, value in messages.items()]
    return list(messages) if isinstance(messages, (list, tuple)) else [messages]
