"""Read-only admin pages for the archive ledger, with totals and compression ratios, and a "run now" button."""

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import SimpleTemplateResponse
from django.urls import URLPattern, path, reverse
from kombu.exceptions import OperationalError

from access import audit
from access.models import AuditEvent
from access.scope import read_scope
from archive import rehydrate
from archive.models import ArchivePart, ArchiveRun
from archive.reader import ColdReadError
from logsite.admin import ReadOnlyAdminMixin
from logsite.health import check_broker


def ratio(raw: int | None, compressed: int | None) -> str:
    return f"{raw / compressed:.1f}x" if raw and compressed else "-"


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The ledger is written by the archiver only."""

    actions: Sequence[str] | None = None
    logs_field = "logs"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        # The list is a TemplateResponse, its context still open; a redirect (after a bad lookup) has none.
        if isinstance(response, SimpleTemplateResponse) and response.context_data:
            changelist = response.context_data.get("cl")
            if changelist is not None:
                totals = changelist.queryset.aggregate(
                    logs=Sum(self.logs_field), raw_bytes=Sum("raw_bytes"), compressed_bytes=Sum("compressed_bytes")
                )
                totals["ratio"] = ratio(totals["raw_bytes"], totals["compressed_bytes"])
                response.context_data["totals"] = totals
        return response


@admin.register(ArchiveRun)
class ArchiveRunAdmin(ReadOnlyAdmin):
    change_list_template = "admin/archive/archiverun/change_list.html"
    list_display = (
        "started",
        "finished",
        "status",
        "trigger",
        "days",
        "logs",
        "raw_bytes",
        "compressed_bytes",
        "ratio",
    )
    list_filter = ("status", "trigger")
    readonly_fields = (
        "started",
        "finished",
        "heartbeat",
        "status",
        "trigger",
        "before",
        "days",
        "logs",
        "raw_bytes",
        "compressed_bytes",
        "ratio",
        "error",
    )
    fields = readonly_fields

    @admin.display(description="compression")
    def ratio(self, run: ArchiveRun) -> str:
        return ratio(run.raw_bytes, run.compressed_bytes)

    def get_urls(self) -> list[URLPattern]:
        start = self.admin_site.admin_view(self.start_run_view)
        return [path("start/", start, name="archive_archiverun_start"), *super().get_urls()]

    def start_run_view(self, request: HttpRequest) -> HttpResponse:
        """Queue the same task the beat schedule runs; the run shows up here when a worker takes it."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("archive.view_archiverun"):
            return HttpResponseRedirect(reverse("admin:index"))
        from archive.tasks import archive_old_logs

        changelist = HttpResponseRedirect(reverse("admin:archive_archiverun_changelist"))
        try:
            # /healthz's check answers in about 2 s; delay() alone retries for longer, then was a 500.
            check_broker()
            archive_old_logs.delay(trigger="admin")
        except OperationalError as exc:
            audit.record(AuditEvent.Action.ARCHIVE_RUN, request, {"trigger": "admin"}, outcome="broker unreachable")
            message = f"The Celery broker is unreachable, so no archive run was started: {exc}"
            self.message_user(request, message, messages.ERROR)
            return changelist
        audit.record(AuditEvent.Action.ARCHIVE_RUN, request, {"trigger": "admin"}, outcome="queued")
        self.message_user(
            request, "An archive run was queued; it appears below once a worker starts it.", messages.SUCCESS
        )
        return changelist


@admin.register(ArchivePart)
class ArchivePartAdmin(ReadOnlyAdmin):
    change_list_template = "admin/archive/archivepart/change_list.html"
    logs_field = "count"
    list_display = (
        "key",
        "day",
        "user_id",
        "level",
        "count",
        "raw_bytes",
        "compressed_bytes",
        "ratio",
        "purged",
        "rehydrated_until",
    )
    list_filter = ("level", "day", "user_id")
    # Rehydration (archive.rehydrate): the only action; it writes to MongoDB, not to the ledger's history.
    actions = ["rehydrate_parts"]
    search_fields = ("key",)
    readonly_fields = (
        "run",
        "key",
        "day",
        "user_id",
        "level",
        "count",
        "raw_bytes",
        "compressed_bytes",
        "ratio",
        "sha256",
        "first_timestamp",
        "last_timestamp",
        "created",
        "purged",
        "rehydrated_until",
    )
    fields = readonly_fields

    @admin.display(description="compression")
    def ratio(self, part: ArchivePart) -> str:
        return ratio(part.raw_bytes, part.compressed_bytes)

    @admin.action(
        permissions=["rehydrate"], description=f"Rehydrate: load into MongoDB for {settings.REHYDRATION_HOURS:g} hours"
    )
    def rehydrate_parts(self, request: HttpRequest, queryset: QuerySet[ArchivePart]) -> None:
        params = {"parts": sorted(queryset.values_list("key", flat=True))[:100], "hours": settings.REHYDRATION_HOURS}
        outside = read_scope(request).outside(queryset.values_list("user_id", flat=True))
        if outside:
            # All or nothing: loading logs into MongoDB is reading them.
            refused = f"Nothing rehydrated: user_id {', '.join(map(str, outside))} not granted to you."
            audit.record(AuditEvent.Action.REHYDRATE, request, params, outcome="refused")
            self.message_user(request, refused, messages.ERROR)
            return
        try:
            inserted = rehydrate.rehydrate(queryset, settings.REHYDRATION_HOURS)
        except ColdReadError as exc:
            audit.record(AuditEvent.Action.REHYDRATE, request, params, outcome="object storage unreadable")
            self.message_user(request, f"Object storage could not be read: {exc}", messages.ERROR)
            return
        audit.record(AuditEvent.Action.REHYDRATE, request, params, outcome=f"{inserted} logs loaded")
        self.message_user(
            request,
            f"Loaded {inserted:,} logs back into MongoDB until the rehydration expires "
            f"({settings.REHYDRATION_HOURS:g} hours); searches count them once.",
            messages.SUCCESS,
        )

    def has_rehydrate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("archive.change_archivepart")
