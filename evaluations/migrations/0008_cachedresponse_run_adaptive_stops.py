from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("evaluations", "0007_suites_scores_preset"),
    ]

    operations = [
        migrations.CreateModel(
            name="CachedResponse",
            fields=[
                ("key", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("kind", models.CharField(max_length=20)),
                ("response", models.JSONField(help_text="The result's fields and `ms`, what computing it cost")),
                ("hits", models.PositiveIntegerField(default=0)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.AddField(
            model_name="run",
            name="adaptive_stops",
            field=models.JSONField(
                blank=True, default=dict,
                help_text="Adaptive runs: per benchmark, the rule that stopped it and items saved",
            ),
        ),
    ]
