from django.db.models import Model
from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """Admin pages that show data written elsewhere (logs by programs, the ledger by the archiver)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
