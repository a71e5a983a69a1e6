from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from access import audit


class Command(BaseCommand):
    help = "Delete audit events older than AUDIT_RETENTION_DAYS, as the daily beat task access.prune_audit_events does."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = audit.prune()
        self.stdout.write(f"Deleted {deleted:,} audit events older than {settings.AUDIT_RETENTION_DAYS} days.")
