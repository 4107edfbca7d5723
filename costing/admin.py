from django.contrib import admin

from costing.models import HardwareEntry


@admin.register(HardwareEntry)
class HardwareEntryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "version", "kind", "memory_gb", "tdp_w", "purchase_usd", "cloud_usd_per_hour",
                    "source_date")
    list_filter = ("kind",)
    search_fields = ("name", "slug")
    # A new price is a new version: "Save as new" keeps the old row for the figures already quoted.
    save_as = True
