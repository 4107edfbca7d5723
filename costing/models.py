"""The hardware catalogue: machines a model can be served on, with what they cost and draw, and where the figures
come from. Versioned: a changed price is a new row of the same slug (the admin's "Save as new"), so a figure
quoted last month can still be traced."""
from __future__ import annotations

from django.db import models


class HardwareEntry(models.Model):
    class Kind(models.TextChoices):
        GPU = "gpu", "GPU"
        CPU = "cpu", "CPU"

    slug = models.SlugField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    memory_gb = models.FloatField(help_text="Memory a model can use (GPU memory, or RAM for a CPU server)")
    memory_bandwidth_gb_s = models.FloatField(
        null=True, blank=True, help_text="Peak memory bandwidth: bounds decode speed when nothing was measured")
    tdp_w = models.FloatField(help_text="Rated power (TDP / board power) in watts")
    purchase_usd = models.FloatField(null=True, blank=True, help_text="Purchase price of one unit")
    cloud_usd_per_hour = models.FloatField(null=True, blank=True, help_text="On-demand rent of one unit")
    profile_match = models.CharField(
        max_length=200, blank=True,
        help_text="Performance profiles whose hardware label contains this text count as measured on this entry",
    )
    source = models.TextField(help_text="Where the figures come from")
    source_date = models.DateField(help_text="When the figures were taken")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "name", "-version"]
        verbose_name = "hardware entry"
        verbose_name_plural = "hardware catalogue"
        constraints = [models.UniqueConstraint(fields=["slug", "version"], name="hardware_slug_version_unique")]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"
