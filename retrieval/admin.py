from django.contrib import admin

from retrieval.models import LogEntry
from retrieval.pagination import WindowPaginator


@admin.register(LogEntry)
class LogEntryAdmin(admin.ModelAdmin):
    """Read-only browsing of hot logs; stays fast at millions of rows (no counts)."""

    list_display = ("timestamp", "level", "user_id", "message")
    list_filter = ("level",)
    search_fields = ("message",)
    ordering = ("-timestamp",)
    list_per_page = 100
    show_full_result_count = False
    actions = None

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        # The changelist's page parameter is "p", counted from 1.
        return WindowPaginator(queryset, per_page, page_number=request.GET.get("p", 1))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
