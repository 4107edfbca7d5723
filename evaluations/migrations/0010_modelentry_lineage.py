# Lineage of fine-tuned models: how a model derives from its base, and its adapter's hash.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('evaluations', '0009_regressions_watches_manifests'),
    ]

    operations = [
        migrations.AddField(
            model_name='modelentry',
            name='base_relation',
            field=models.CharField(blank=True, choices=[('fine_tune', 'Fine-tune'), ('merge', 'Merge'), ('adapter', 'Adapter'), ('quantization', 'Quantization')], db_index=True, max_length=20),
        ),
        migrations.AddField(
            model_name='modelentry',
            name='adapter_sha256',
            field=models.CharField(blank=True, max_length=64),
        ),
    ]
