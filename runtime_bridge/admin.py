"""Operators look at automations and their runs; buyers change them on their own pages or through the API.
The webhook secret is never shown."""

from django.contrib import admin

from runtime_bridge.models import Workflow, WorkflowRun


class WorkflowRunInline(admin.TabularInline):
    model = WorkflowRun
    fields = ("created_at", "trigger", "status", "attempts", "duration_ms", "error")
    readonly_fields = fields
    ordering = ("-created_at",)
    extra = 0
    max_num = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).defer("input", "output")


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("name", "config", "trigger", "schedule_kind", "is_active", "next_run_at", "last_run_at")
    list_filter = ("trigger", "schedule_kind", "is_active")
    search_fields = ("name", "uuid", "config__uuid", "config__organization__name")
    list_select_related = ("config__organization",)
    readonly_fields = ("uuid", "config", "next_run_at", "last_run_at", "created_at", "updated_at")
    exclude = ("webhook_secret_encrypted",)
    inlines = [WorkflowRunInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(WorkflowRun)
class WorkflowRunAdmin(admin.ModelAdmin):
    list_display = ("uuid", "workflow", "trigger", "status", "attempts", "duration_ms", "created_at")
    list_filter = ("status", "trigger")
    search_fields = ("uuid", "request_id", "workflow__name", "workflow__uuid")
    list_select_related = ("workflow",)
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in WorkflowRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
