# A fine-tune's target domain, which the vs-base page splits gains from losses by.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('evaluations', '0010_modelentry_lineage'),
    ]

    operations = [
        migrations.AddField(
            model_name='modelentry',
            name='target_benchmarks',
            field=models.JSONField(blank=True, default=list, help_text="Benchmark slugs of a fine-tune's target domain (vs-base page)"),
        ),
    ]
