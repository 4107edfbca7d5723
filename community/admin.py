from django.contrib import admin

from community.models import BenchmarkReview


@admin.register(BenchmarkReview)
class BenchmarkReviewAdmin(admin.ModelAdmin):
    list_display = ("benchmark", "author", "rating", "is_approved", "created_at")
    list_filter = ("is_approved", "rating")
    actions = ["approve"]

    @admin.action(description="Approve selected reviews")
    def approve(self, request, queryset):
        queryset.update(is_approved=True)
