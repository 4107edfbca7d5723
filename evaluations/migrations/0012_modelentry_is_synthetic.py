from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("evaluations", "0011_modelentry_target_benchmarks"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="modelentry",
            options={"base_manager_name": "every", "ordering": ["name"], "verbose_name": "model"},
        ),
        migrations.AlterModelManagers(
            name="modelentry",
            managers=[("objects", models.Manager()), ("every", models.Manager())],
        ),
        migrations.AddField(
            model_name="modelentry",
            name="is_synthetic",
            field=models.BooleanField(default=False, help_text="Made up by seed_scale to measure the site at size"),
        ),
    ]
