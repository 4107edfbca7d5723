"""Shapes of the API's model, run and suite resources (read-only)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from evaluations.models import ModelEntry, Run, Suite
from evaluations.selectors import run_scores, run_spend_summary


class ModelEntrySerializer(serializers.ModelSerializer):
    base_model = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True,
                                              help_text="The model this one derives from; null for a base model")
    run_count = serializers.IntegerField(read_only=True, help_text="Runs you may see")
    finished_count = serializers.IntegerField(read_only=True, help_text="Finished runs you may see")

    class Meta:
        model = ModelEntry
        fields = ["slug", "name", "family", "parameter_count", "license", "source_kind", "revision", "file_sha256",
                  "format", "quantization", "dtype", "base_model", "run_count", "finished_count", "created_at"]


class RunSummarySerializer(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    suite = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True,
                                               help_text="Suite version id; null for a run outside any suite")
    configuration = serializers.CharField(source="configuration_label", read_only=True)

    class Meta:
        model = Run
        fields = ["id", "model", "suite", "requested_benchmarks", "backend", "preset", "configuration", "status",
                  "done", "total", "is_private", "config_hash", "created_at", "started_at", "finished_at"]


class RunDetailSerializer(RunSummarySerializer):
    scores = serializers.SerializerMethodField(help_text="{benchmark slug: {metric: {value, stderr, n}}}")
    spend = serializers.SerializerMethodField(
        help_text="Priced runs (docs/costing.md): usd, budget_usd, usd_per_1m_input, usd_per_1m_output as exact "
                  "decimal strings, input_tokens, output_tokens, estimated_tokens; null for an unpriced run")

    class Meta(RunSummarySerializer.Meta):
        fields = RunSummarySerializer.Meta.fields + [
            "config", "error", "model_sha256", "dataset_hashes", "task_spec_hashes", "environment", "scores", "spend"]

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "object"}})
    def get_scores(self, run: Run) -> dict[str, dict[str, dict]]:
        return run_scores(run=run)

    @extend_schema_field({"type": "object", "nullable": True, "additionalProperties": True})
    def get_spend(self, run: Run) -> dict | None:
        return run_spend_summary(run=run)


class ModelDetailSerializer(ModelEntrySerializer):
    runs = serializers.SerializerMethodField(help_text="Its runs you may see, newest first")

    class Meta(ModelEntrySerializer.Meta):
        fields = ModelEntrySerializer.Meta.fields + ["runs"]

    @extend_schema_field(RunSummarySerializer(many=True))
    def get_runs(self, model: ModelEntry) -> list[dict]:
        return RunSummarySerializer(self.context["runs"], many=True).data


class SuiteDetailSerializer(serializers.ModelSerializer):
    class Meta:
        model = Suite
        fields = ["id", "slug", "title", "version", "order", "entries", "limits", "description", "created_at"]
