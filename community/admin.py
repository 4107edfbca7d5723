from django.contrib import admin

from community.models import BenchmarkReview, ModelFlag, ModelOptOut, ModerationLogEntry, Submission, SubmissionEvent


@admin.register(BenchmarkReview)
class BenchmarkReviewAdmin(admin.ModelAdmin):
    list_display = ("benchmark", "author", "rating", "is_approved", "created_at")
    list_filter = ("is_approved", "rating")
    actions = ["approve"]

    @admin.action(description="Approve selected reviews")
    def approve(self, request, queryset):
        queryset.update(is_approved=True)


class SubmissionEventInline(admin.TabularInline):
    model = SubmissionEvent
    extra = 0
    can_delete = False
    readonly_fields = ("from_state", "to_state", "actor", "reason", "created_at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    """Read-only: states change through the moderation page, so every change is recorded with its reason."""

    list_display = ("pk", "name", "state", "source", "submitter", "created_at")
    list_filter = ("state", "source", "file_format")
    search_fields = ("name", "hub_id", "file_sha256")
    inlines = [SubmissionEventInline]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ModelOptOut)
class ModelOptOutAdmin(admin.ModelAdmin):
    list_display = ("prefix", "reason", "created_at")


@admin.register(ModelFlag)
class ModelFlagAdmin(admin.ModelAdmin):
    list_display = ("model", "kind", "state", "author", "created_at")
    list_filter = ("state", "kind")


@admin.register(ModerationLogEntry)
class ModerationLogEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "target_kind", "target_id", "target_label")
    list_filter = ("action",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
