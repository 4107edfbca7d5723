"""Shapes of the API's query parameters and responses (they also document the OpenAPI schema)."""
from __future__ import annotations

from rest_framework import serializers


class CompareQuerySerializer(serializers.Serializer):
    models = serializers.CharField(help_text="Two to four model slugs or names, comma-separated; the first is "
                                             "compared with each of the others")
    suite = serializers.IntegerField(required=False, help_text="Suite version id (default: the leaderboard's)")

    def validate_models(self, value: str) -> list[str]:
        names = [name.strip() for name in value.split(",") if name.strip()]
        if len(names) < 2:
            raise serializers.ValidationError("give at least two models, comma-separated")
        return names


class SuiteSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    slug = serializers.CharField()
    title = serializers.CharField()
    version = serializers.CharField()


class BenchmarkRowSerializer(serializers.Serializer):
    """One benchmark: the first model minus the second over the items both answered."""

    benchmark = serializers.CharField()
    metric = serializers.CharField(help_text="The primary metric, paired per item")
    n_shared = serializers.IntegerField(help_text="Items both models answered")
    scores = serializers.DictField(child=serializers.FloatField(allow_null=True),
                                   help_text="Each model's stored score (model slug → value)")
    delta = serializers.FloatField(allow_null=True, help_text="Mean of A − B over the shared items")
    ci_low = serializers.FloatField(allow_null=True, help_text="Paired bootstrap 95% interval (seeded)")
    ci_high = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    p_value_holm = serializers.FloatField(allow_null=True, help_text="Holm-adjusted over every test in the response")
    test = serializers.CharField(help_text="exact McNemar (0/1 scores), paired t-test, or none")
    correlation = serializers.FloatField(allow_null=True, help_text="Pearson correlation of the per-item scores")
    se = serializers.FloatField(allow_null=True, help_text="Analytic paired standard error (clustered for groups)")
    clusters = serializers.IntegerField(allow_null=True, help_text="Subjects or tasks the SE is clustered over")
    minimum_detectable_difference = serializers.FloatField(allow_null=True,
                                                           help_text="At α = 0.05 with 80% power")
    verdict = serializers.ChoiceField(choices=["better", "worse", "tied", "not compared"],
                                      help_text="For the first model, at α after Holm")


class PairSerializer(serializers.Serializer):
    model_a = serializers.CharField()
    model_b = serializers.CharField()
    benchmarks = BenchmarkRowSerializer(many=True)


class CategorySerializer(serializers.Serializer):
    category = serializers.CharField()
    benchmarks = serializers.ListField(child=serializers.CharField())
    scores = serializers.DictField(child=serializers.FloatField(allow_null=True),
                                   help_text="Mean baseline-normalised score (0 chance, 1 perfect) per model slug")


class ComparisonSerializer(serializers.Serializer):
    suite = SuiteSerializer()
    models = serializers.ListField(child=serializers.CharField())
    alpha = serializers.FloatField()
    benchmarks = BenchmarkRowSerializer(many=True, help_text="The first model minus the second")
    comparisons = PairSerializer(many=True, help_text="The first model against each of the others")
    categories = CategorySerializer(many=True)
