from collections.abc import Callable
from datetime import UTC, datetime

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

# Admin times: UTC, with seconds, the zone in the label (Django's default reads "Nov. 27, 2026, 11:54 p.m.").
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class ReadOnlyAdminMixin:
    """Admin pages that show data written elsewhere (logs by programs, the ledger by the archiver)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def utc_time(field: str, label: str) -> Callable[[object, Model], str]:
    """An admin column (and detail field) labelled "<label> (UTC)" showing the datetime `field` as
    `2026-11-27 23:54:07`, or the date `field` (a UTC day) as `2026-11-27`."""

    @admin.display(description=f"{label} (UTC)", ordering=field)
    def show(model_admin: object, obj: Model) -> str:
        value = getattr(obj, field)
        if value is None:
            return "-"
        return value.astimezone(UTC).strftime(TIME_FORMAT) if isinstance(value, datetime) else value.isoformat()

    return show
