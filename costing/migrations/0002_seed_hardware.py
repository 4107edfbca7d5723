"""The catalogue's starting set (docs/costing.md lists it with its sources). Memory, bandwidth and power are the
vendors' datasheet figures; prices are rounded street and on-demand cloud prices, approximate by nature: edit them in
the admin ("Save as new" keeps the old version)."""
from datetime import date

from django.db import migrations

TAKEN = date(2025, 1, 15)
DATASHEET = "Memory, bandwidth and power: {vendor} datasheet. Prices: rounded street price and typical on-demand " \
            "cloud rate, approximate."
STARTING_SET = [
    # slug, name, kind, memory GB, bandwidth GB/s, power W, purchase $, cloud $/h, profile match, vendor
    ("nvidia-h100-sxm-80gb", "NVIDIA H100 SXM 80GB", "gpu", 80, 3350, 700, 30000, 3.00, "H100", "NVIDIA H100"),
    ("nvidia-a100-sxm-80gb", "NVIDIA A100 SXM 80GB", "gpu", 80, 2039, 400, 15000, 1.80, "A100", "NVIDIA A100"),
    ("nvidia-l40s-48gb", "NVIDIA L40S 48GB", "gpu", 48, 864, 350, 8000, 1.00, "L40S", "NVIDIA L40S"),
    ("nvidia-l4", "NVIDIA L4 24GB", "gpu", 24, 300, 72, 2500, 0.70, "L4", "NVIDIA L4"),
    ("nvidia-rtx-4090", "NVIDIA GeForce RTX 4090 24GB", "gpu", 24, 1008, 450, 1800, 0.40, "4090",
     "NVIDIA GeForce RTX 4090"),
    ("cpu-server-16c", "CPU server, 16 cores, 64 GB", "cpu", 64, 100, 200, 5000, 0.70, "CPUs", None),
]
GENERIC_CPU = "Generic figures for a 16-core x86 server with 4 DDR5 channels (about 100 GB/s usable), rounded; it " \
              "counts profiles measured on any CPU-only machine (labels end in \"· N CPUs\"), so treat its " \
              "throughput as a guide. Prices: rounded, approximate."


def seed(apps, schema_editor):
    HardwareEntry = apps.get_model("costing", "HardwareEntry")
    for slug, name, kind, memory, bandwidth, power, purchase, hourly, match, vendor in STARTING_SET:
        HardwareEntry.objects.get_or_create(slug=slug, version=1, defaults=dict(
            name=name, kind=kind, memory_gb=memory, memory_bandwidth_gb_s=bandwidth, tdp_w=power, purchase_usd=purchase,
            cloud_usd_per_hour=hourly, profile_match=match, source=DATASHEET.format(vendor=vendor) if vendor else GENERIC_CPU, source_date=TAKEN,
        ))


def unseed(apps, schema_editor):
    apps.get_model("costing", "HardwareEntry").objects.filter(
        slug__in=[row[0] for row in STARTING_SET], version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("costing", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
