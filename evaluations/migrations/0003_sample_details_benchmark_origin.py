from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("evaluations", "0002_shard_workerrecord_run_estimated_memory_bytes_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="sample",
            name="details",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="benchmark",
            name="origin",
            field=models.CharField(
                choices=[("builtin", "Built in"), ("custom", "Custom (imported)")], default="builtin", max_length=20
            ),
        ),
        migrations.AddField(
            model_name="benchmark",
            name="data_path",
            field=models.CharField(blank=True, help_text="Imported JSONL copy (custom benchmarks)", max_length=1000),
        ),
        migrations.AddField(
            model_name="benchmark",
            name="submitted_by",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL
            ),
        ),
    ]
