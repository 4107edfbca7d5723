from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="HardwareEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slug", models.SlugField(max_length=100)),
                ("version", models.PositiveIntegerField(default=1)),
                ("name", models.CharField(max_length=200)),
                ("kind", models.CharField(choices=[("gpu", "GPU"), ("cpu", "CPU")], max_length=10)),
                ("memory_gb", models.FloatField(help_text="Memory a model can use (GPU memory, or RAM for a CPU server)")),
                ("memory_bandwidth_gb_s", models.FloatField(blank=True, help_text="Peak memory bandwidth: bounds decode speed when nothing was measured", null=True)),
                ("tdp_w", models.FloatField(help_text="Rated power (TDP / board power) in watts")),
                ("purchase_usd", models.FloatField(blank=True, help_text="Purchase price of one unit", null=True)),
                ("cloud_usd_per_hour", models.FloatField(blank=True, help_text="On-demand rent of one unit", null=True)),
                ("profile_match", models.CharField(blank=True, help_text="Performance profiles whose hardware label contains this text count as measured on this entry", max_length=200)),
                ("source", models.TextField(help_text="Where the figures come from")),
                ("source_date", models.DateField(help_text="When the figures were taken")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "verbose_name": "hardware entry",
                "verbose_name_plural": "hardware catalogue",
                "ordering": ["kind", "name", "-version"],
                "constraints": [models.UniqueConstraint(fields=("slug", "version"), name="hardware_slug_version_unique")],
            },
        ),
    ]
