from datetime import date
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from access import audit
from access.models import AuditEvent
from archive import rehydrate
from archive.reader import ColdReadError


class Command(BaseCommand):
    help = (
        "Load an archived UTC day (or one user's part of it) back into MongoDB for a limited time. "
        "Searches count each log once meanwhile; the hourly expiry task deletes them afterwards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("day", type=date.fromisoformat, help="the archived day, YYYY-MM-DD")
        parser.add_argument("--user", type=int, default=None, help="only this user_id's logs")
        parser.add_argument(
            "--hours",
            type=float,
            default=settings.REHYDRATION_HOURS,
            help="how long they stay in MongoDB (default: REHYDRATION_HOURS)",
        )

    def handle(self, *args: Any, day: date, user: int | None, hours: float, **options: Any) -> None:
        if hours <= 0:
            raise CommandError("--hours must be more than 0")
        parts = list(rehydrate.parts_of(day, user))
        if not parts:
            who = f" for user {user}" if user is not None else ""
            raise CommandError(f"Nothing archived on {day}{who}.")
        params = {"day": day.isoformat(), "user_id": user, "hours": hours}
        audit.record(AuditEvent.Action.REHYDRATE, params=params, outcome="started")
        try:
            inserted = rehydrate.rehydrate(parts, hours)
        except ColdReadError as exc:
            raise CommandError(f"Object storage could not be read; what was loaded expires as usual: {exc}") from exc
        self.stdout.write(f"Rehydrated {inserted:,} logs from {len(parts)} archive parts of {day} for {hours:g} hours.")
