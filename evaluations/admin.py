from django.contrib import admin

from evaluations.models import (
    Benchmark, ModelEntry, Regression, RegressionNotification, RegressionWatch, Run, Sample, Score, Suite,
)


@admin.register(ModelEntry)
class ModelEntryAdmin(admin.ModelAdmin):
    list_display = ("name", "family", "parameter_count", "format", "quantization", "source_kind", "created_at")
    list_filter = ("source_kind", "format", "family")
    search_fields = ("name", "family", "location")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Benchmark)
class BenchmarkAdmin(admin.ModelAdmin):
    list_display = ("slug", "category", "version", "primary_metric", "is_group", "spec_hash")
    list_filter = ("category", "is_group")
    search_fields = ("slug", "title")


@admin.register(Suite)
class SuiteAdmin(admin.ModelAdmin):
    list_display = ("slug", "title", "version")
    filter_horizontal = ("benchmarks",)


class ResultsReadOnly:
    """Scores and samples are what a run produced: the admin shows them and never edits, adds or deletes one,
    so a score can only change by a new run."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ScoreInline(ResultsReadOnly, admin.TabularInline):
    model = Score
    extra = 0
    readonly_fields = ("benchmark", "metric", "value", "stderr", "n", "is_primary", "config_key")


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("id", "model", "backend", "status", "done", "total", "config_hash", "created_at")
    list_filter = ("status", "backend")
    search_fields = ("model__name", "config_hash")
    readonly_fields = ("config_hash", "model_sha256", "dataset_hashes", "task_spec_hashes", "environment")
    inlines = [ScoreInline]


@admin.register(Sample)
class SampleAdmin(ResultsReadOnly, admin.ModelAdmin):
    list_display = ("run", "benchmark", "doc_id", "prediction", "correct", "latency_ms")
    list_filter = ("correct", "benchmark__slug")
    list_select_related = ("run", "benchmark")
    raw_id_fields = ("run",)


@admin.register(Score)
class ScoreAdmin(ResultsReadOnly, admin.ModelAdmin):
    list_display = ("run", "benchmark", "metric", "value", "stderr", "n", "is_primary")
    list_filter = ("is_primary", "benchmark__slug")


@admin.register(Regression)
class RegressionAdmin(admin.ModelAdmin):
    list_display = ("model", "benchmark", "run", "baseline_run", "delta", "ci_low", "ci_high", "created_at")
    list_filter = ("benchmark__slug",)
    raw_id_fields = ("run", "baseline_run")


@admin.register(RegressionWatch)
class RegressionWatchAdmin(admin.ModelAdmin):
    list_display = ("user", "model", "email", "webhook_url", "created_at")


@admin.register(RegressionNotification)
class RegressionNotificationAdmin(admin.ModelAdmin):
    list_display = ("regression", "channel", "target", "delivered", "error", "created_at")
    list_filter = ("channel", "delivered")
