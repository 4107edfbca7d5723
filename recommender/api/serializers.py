"""The recommender's JSON (and the page's parsed query): limits, weights and the ranked answer."""
from __future__ import annotations

from rest_framework import serializers

from recommender.presets import BY_SLUG, CATEGORIES
from recommender.selectors import DEFAULT_CONTEXT


def _limit(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(required=False, allow_null=True, min_value=0, help_text=help_text)


class ConstraintsSerializer(serializers.Serializer):
    max_memory_gb = _limit("Most memory the model may need (GB), weights plus KV cache at context_tokens")
    min_tokens_per_s = _limit("Least output tokens/s of one request on the chosen hardware")
    max_p95_latency_ms = _limit("Largest p95 end-to-end latency on the chosen hardware (ms)")
    max_usd_per_1m = _limit("Largest self-hosted cost per 1M output tokens on the chosen hardware")
    licenses = serializers.ListField(child=serializers.CharField(), required=False, default=list,
                                     help_text="Allowed licences (empty: any)")
    min_category = serializers.DictField(
        child=serializers.FloatField(min_value=0, max_value=100), required=False, default=dict,
        help_text="Least normalised score per category, in points (0 = chance, 100 = perfect)")

    def validate_min_category(self, value: dict) -> dict:
        return _known_categories(value)


class RecommendInputSerializer(serializers.Serializer):
    suite = serializers.IntegerField(required=False, allow_null=True, help_text="Suite version id (default: the "
                                                                                 "leaderboard's)")
    use_case = serializers.ChoiceField(choices=sorted(BY_SLUG), required=False, default="balanced",
                                       help_text="Preset of category weights, used where `weights` says nothing")
    weights = serializers.DictField(child=serializers.FloatField(min_value=0), required=False, default=dict,
                                    help_text="Category → weight (≥ 0), over the use case's")
    constraints = ConstraintsSerializer(required=False, default=dict)
    hardware = serializers.CharField(required=False, allow_blank=True, default="",
                                     help_text="Hardware catalogue slug: prices, and which profiles count as measured")
    context_tokens = serializers.IntegerField(required=False, default=DEFAULT_CONTEXT, min_value=1,
                                              max_value=1_048_576)
    seed = serializers.IntegerField(required=False, default=0, min_value=0, help_text="Bootstrap seed")
    resamples = serializers.IntegerField(required=False, default=1000, min_value=1000, max_value=10_000)

    def validate_weights(self, value: dict) -> dict:
        return _known_categories(value)


def _known_categories(value: dict) -> dict:
    unknown = sorted(set(value) - set(CATEGORIES))
    if unknown:
        raise serializers.ValidationError(f"unknown categories: {', '.join(unknown)}; known: {', '.join(CATEGORIES)}")
    return value


class CandidateSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="Model slug")
    score = serializers.FloatField(help_text="Weighted baseline-normalised quality, points (0 chance, 100 perfect)")
    ci_low = serializers.FloatField(help_text="95% bootstrap interval of the score (items resampled jointly)")
    ci_high = serializers.FloatField()
    p_top1 = serializers.FloatField(help_text="Share of resamples in which it ranks first (ties split)")
    p_top3 = serializers.FloatField()
    tied_with_leader = serializers.BooleanField(help_text="The paired interval of (leader − it) contains 0")
    on_pareto_front = serializers.BooleanField(help_text="Not dominated on quality, $/1M, p95, memory and J/token")
    p_pareto = serializers.FloatField(help_text="Share of resamples in which it is on that frontier")
    memory_gb = serializers.FloatField(allow_null=True)
    tokens_per_s = serializers.FloatField(allow_null=True)
    p95_latency_ms = serializers.FloatField(allow_null=True)
    usd_per_1m = serializers.FloatField(allow_null=True)
    joules_per_token = serializers.FloatField(allow_null=True)
    usd_per_1m_per_point = serializers.FloatField(allow_null=True, help_text="Cost per accuracy point: usd_per_1m ÷ score")
    estimated = serializers.ListField(child=serializers.CharField(), help_text="Figures estimated, not measured")
    tradeoff = serializers.CharField()


class ExcludedSerializer(serializers.Serializer):
    model = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Every limit it fails")


class RecommendationSerializer(serializers.Serializer):
    suite = serializers.IntegerField()
    weights = serializers.DictField(child=serializers.FloatField())
    hardware = serializers.CharField(allow_null=True)
    seed = serializers.IntegerField()
    resamples = serializers.IntegerField()
    candidates = CandidateSerializer(many=True)
    excluded = ExcludedSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField())
    advice = serializers.ListField(child=serializers.CharField(),
                                   help_text="Cheaper or smaller models within 3 points of the leader (or tied)")
