"""Read-only admin pages for the archive ledger, with totals and compression ratios, and a "run now" button.

The lists fit a laptop's screen: sizes are human ("4.9 MB"; bytes on the detail pages), times
UTC with seconds, and each part or day links to its logs on the search page.
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.template.response import SimpleTemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from kombu.exceptions import OperationalError

from access import audit
from access.models import AuditEvent
from access.scope import read_scope
from archive import rehydrate
from archive.models import ArchivedDay, ArchivePart, ArchiveRun
from archive.reader import ColdReadError
from logsite.admin import ReadOnlyAdminMixin, utc_time
from logsite.health import check_broker


def ratio(raw: int | None, compressed: int | None) -> str:
    return f"{raw / compressed:.1f}x" if raw and compressed else "-"


def human_size(field: str, label: str) -> Callable[[object, Model], str]:
    """An admin column showing the byte count `field` as "4.9 MB"."""

    @admin.display(description=label, ordering=field)
    def show(model_admin: object, obj: Model) -> str:
        return filesizeformat(getattr(obj, field))

    return show


def logs_link(text: str, **params: str | int) -> SafeString:
    """A link to the search page for these search parameters."""
    url = f"{reverse('search')}?{urlencode(params)}"
    return format_html('<a href="{}" title="These logs on the search page">{}</a>', url, text)


class DeletedFromMongoDB(admin.SimpleListFilter):
    title = "deleted from MongoDB"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: "admin.ModelAdmin[Any]") -> list[tuple[str, str]]:
        return [("yes", "yes"), ("no", "not yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ArchivePart]) -> QuerySet[ArchivePart]:
        if self.value() in ("yes", "no"):
            return queryset.filter(purged__isnull=self.value() == "no")
        return queryset


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
    started_utc = utc_time("started", "started")
    finished_utc = utc_time("finished", "finished")
    heartbeat_utc = utc_time("heartbeat", "heartbeat")
    raw_size = human_size("raw_bytes", "raw size")
    stored_size = human_size("compressed_bytes", "stored size")
    list_display = (
        "started_utc",
        "finished_utc",
        "status",
        "trigger",
        "days",
        "logs",
        "raw_size",
        "stored_size",
        "ratio",
    )
    list_filter = ("status", "trigger")
    readonly_fields = (
        "started_utc",
        "finished_utc",
        "heartbeat_utc",
        "status",
        "trigger",
        "before",
        "days",
        "logs",
        "raw_size",
        "raw_bytes",
        "stored_size",
        "compressed_bytes",
        "ratio",
        "error",
    )
    fields = readonly_fields

    @admin.display(description="ratio")
    def ratio(self, run: ArchiveRun) -> str:
        return ratio(run.raw_bytes, run.compressed_bytes)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ArchiveRun]:
        # A run's totals are about every user_id's logs: listed only to those granted every user_id.
        runs = super().get_queryset(request)
        return runs if read_scope(request).everything else runs.none()

    def get_urls(self) -> list[URLPattern]:
        start = self.admin_site.admin_view(self.start_run_view)
        return [path("start/", start, name="archive_archiverun_start"), *super().get_urls()]

    def start_run_view(self, request: HttpRequest) -> HttpResponse:
        """Queue the same task the beat schedule runs; the run shows up here when a worker takes it."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("archive.start_archiverun"):
            raise PermissionDenied("Starting an archive run needs the permission “Can start an archive run”.")
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
    day_utc = utc_time("day", "day")
    raw_size = human_size("raw_bytes", "raw size")
    stored_size = human_size("compressed_bytes", "stored size")
    first_utc = utc_time("first_timestamp", "first log")
    last_utc = utc_time("last_timestamp", "last log")
    created_utc = utc_time("created", "created")
    deleted_utc = utc_time("purged", "deleted from MongoDB")
    rehydrated_until_utc = utc_time("rehydrated_until", "rehydrated until")
    # Seven narrow columns fit a laptop's screen beside the filters: the key (on the detail page) repeats
    # day, user and level; the count links to the logs; rehydration is said in the "deleted" column.
    list_display = ("day_utc", "user_id", "level", "logs", "stored_size", "ratio", "deleted")
    list_filter = ("level", DeletedFromMongoDB, "day", "user_id")
    # Rehydration (archive.rehydrate): the only action; it writes to MongoDB, not to the ledger's history.
    actions = ["rehydrate_parts"]
    search_fields = ("key",)
    readonly_fields = (
        "run",
        "key",
        "day_utc",
        "user_id",
        "level",
        "logs",
        "raw_size",
        "raw_bytes",
        "stored_size",
        "compressed_bytes",
        "ratio",
        "sha256",
        "first_utc",
        "last_utc",
        "created_utc",
        "deleted_utc",
        "rehydrated_until_utc",
    )
    fields = readonly_fields

    @admin.display(description="ratio")
    def ratio(self, part: ArchivePart) -> str:
        return ratio(part.raw_bytes, part.compressed_bytes)

    @admin.display(description="deleted from MongoDB", ordering="purged")
    def deleted(self, part: ArchivePart) -> str:
        if part.purged is None:
            return "not yet"
        if part.rehydrated_until is not None:
            return f"yes; rehydrated until {self.rehydrated_until_utc(part)} UTC"
        return "yes"

    @admin.display(description="logs", ordering="count")
    def logs(self, part: ArchivePart) -> SafeString:
        return logs_link(f"{part.count:,}", date=part.day.isoformat(), user_id=part.user_id, level=part.level)

    @admin.action(
        permissions=["rehydrate"], description=f"Rehydrate: load into MongoDB for {settings.REHYDRATION_HOURS:g} hours"
    )
    def rehydrate_parts(self, request: HttpRequest, queryset: QuerySet[ArchivePart]) -> None:
        # `queryset` comes from get_queryset: parts of user_ids outside the grant are not in it.
        params = {"parts": sorted(queryset.values_list("key", flat=True))[:100], "hours": settings.REHYDRATION_HOURS}
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[ArchivePart]:
        # A part's user_id and counts are about that user's logs: only granted ones are listed (and acted on).
        scope = read_scope(request)
        parts = super().get_queryset(request)
        return parts if scope.user_ids is None else parts.filter(user_id__in=scope.user_ids)

    def has_rehydrate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("archive.change_archivepart")


@admin.register(ArchivedDay)
class ArchivedDayAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Days the archiver emptied from MongoDB (searches skip MongoDB for them unless logs came later)."""

    day_utc = utc_time("day", "day")
    exported_from_utc = utc_time("exported_from", "exported from")
    list_display = ("day_utc", "exported_from_utc", "search")
    ordering = ("-day",)
    fields = readonly_fields = ("day_utc", "exported_from_utc", "search")

    @admin.display(description="search")
    def search(self, day: ArchivedDay) -> SafeString:
        return logs_link("logs of the day", date=day.day.isoformat())
