from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [
        ("evaluations", "0003_sample_details_benchmark_origin"),
    ]

    operations = [
        migrations.CreateModel(
            name="PerformanceProfile",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("preset", models.CharField(blank=True, help_text="runner.presets name; blank: custom options", max_length=40)),
                ("backend", models.CharField(max_length=30)),
                ("backend_options", models.JSONField(default=dict)),
                ("hardware", models.JSONField(default=dict, help_text="runner.environment.hardware()")),
                ("hardware_label", models.CharField(blank=True, max_length=200)),
                ("config", models.JSONField(default=dict, help_text="Profiling settings: requests, prompt lengths, sweep grid")),
                ("config_hash", models.CharField(db_index=True, max_length=64)),
                ("results", models.JSONField(default=dict)),
                ("output_tokens_per_s", models.FloatField(blank=True, null=True)),
                ("latency_p50_ms", models.FloatField(blank=True, null=True)),
                ("time_to_first_token_p50_ms", models.FloatField(blank=True, null=True)),
                ("peak_memory_bytes", models.BigIntegerField(blank=True, null=True)),
                ("energy_per_1k_tokens_j", models.FloatField(blank=True, null=True)),
                ("energy_source", models.CharField(blank=True, max_length=20)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "model",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="performance_profiles",
                        to="evaluations.modelentry",
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        blank=True,
                        help_text="The evaluation run measured with the same options, if any",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="performance_profiles",
                        to="evaluations.run",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
                "indexes": [
                    models.Index(fields=["model", "preset", "-created_at"], name="profile_model_preset_idx")
                ],
            },
        ),
    ]
