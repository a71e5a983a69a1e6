from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from metrics import store


class Command(BaseCommand):
    help = (
        "Rebuild model-metric aggregates from the logs themselves (hot, then archived parts read with DuckDB), "
        "a day at a time, oldest first: every archived day not rebuilt yet (those archived before the store "
        "existed), then the days that lost a write. Resumable: a day is marked done when its recount commits, "
        "so a run stopped midway goes on where it stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--day", type=date.fromisoformat, action="append", default=[], help="recount this day (YYYY-MM-DD) only"
        )

    def handle(self, *args: Any, day: list[date], **options: Any) -> None:
        days = day or sorted(set(store.archived_days_to_rebuild()) | set(store.stale_days()))
        left = []
        for one in days:
            if store.recount_day(one):
                self.stdout.write(f"{one}: rebuilt")
            else:
                left.append(one)
                self.stdout.write(f"{one}: a writer is storing logs of this day; run again later")
        self.stdout.write(f"Rebuilt {len(days) - len(left)} day(s); {len(left)} left.")
