"""Scores point to the versioned Benchmark row and carry their configuration key and baseline; runs record
their preset; suites record the configuration key of each benchmark."""
import django.db.models.deletion
from django.db import migrations, models


def link_scores_to_benchmarks(apps, schema_editor):
    Score = apps.get_model("evaluations", "Score")
    Run = apps.get_model("evaluations", "Run")
    for run in Run.objects.prefetch_related("benchmarks").iterator(chunk_size=500):
        by_slug = {benchmark.slug: benchmark.pk for benchmark in run.benchmarks.all()}
        for score in Score.objects.filter(run=run):
            if score.benchmark_slug in by_slug:
                score.benchmark_id = by_slug[score.benchmark_slug]
                score.save(update_fields=["benchmark"])
    Score.objects.filter(benchmark__isnull=True).delete()  # no versioned row to point to: cannot be shown


class Migration(migrations.Migration):
    dependencies = [("evaluations", "0006_run_performance_shard_resources")]

    operations = [
        migrations.AddField(
            model_name="run", name="preset",
            field=models.CharField(blank=True, help_text="runner.presets name; blank: custom options", max_length=40),
        ),
        migrations.AlterField(
            model_name="run", name="is_private",
            field=models.BooleanField(default=False, help_text="Seen only by its owner and staff"),
        ),
        migrations.AddField(
            model_name="suite", name="entries",
            field=models.JSONField(blank=True, default=dict,
                                   help_text="Configuration key per benchmark slug (runner.suites.task_config_key)"),
        ),
        migrations.AddField(
            model_name="suite", name="order",
            field=models.JSONField(blank=True, default=list, help_text="Benchmark slugs in column order"),
        ),
        migrations.AddField(
            model_name="suite", name="created_at", field=models.DateTimeField(auto_now_add=True, null=True),
        ),
        migrations.AddField(
            model_name="score", name="benchmark",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="scores",
                                    to="evaluations.benchmark"),
        ),
        migrations.RunPython(link_scores_to_benchmarks, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="score", name="score_unique_per_run"),
        migrations.RemoveField(model_name="score", name="benchmark_slug"),
        migrations.AlterField(
            model_name="score", name="benchmark",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="scores",
                                    to="evaluations.benchmark"),
        ),
        migrations.AddField(model_name="score", name="config_key",
                            field=models.CharField(blank=True, db_index=True, max_length=64)),
        migrations.AddField(model_name="score", name="baseline", field=models.FloatField(blank=True, null=True)),
        migrations.AddField(
            model_name="score", name="normalized",
            field=models.FloatField(blank=True, help_text="(value − baseline) / (best − baseline), ≥ 0", null=True),
        ),
        migrations.AddField(model_name="score", name="normalized_stderr",
                            field=models.FloatField(blank=True, null=True)),
        migrations.AddField(model_name="score", name="scale_min", field=models.FloatField(default=0.0)),
        migrations.AddField(model_name="score", name="scale_max", field=models.FloatField(default=1.0)),
        migrations.AddField(model_name="score", name="higher_is_better", field=models.BooleanField(default=True)),
        migrations.AlterModelOptions(name="score", options={"ordering": ["benchmark__slug", "metric"]}),
        migrations.AddConstraint(
            model_name="score",
            constraint=models.UniqueConstraint(fields=("run", "benchmark", "metric"),
                                               name="score_unique_per_run_benchmark"),
        ),
        migrations.AddIndex(
            model_name="score",
            index=models.Index(fields=["config_key", "is_primary"], name="score_config_primary_idx"),
        ),
    ]
