from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from retrieval import bucket_backfill
from retrieval.models import LogEntry


class Command(BaseCommand):
    help = "Set the hour/day buckets on hot logs stored without them (resumable; safe to kill and repeat)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-needed", action="store_true", help="do nothing when a backfill has completed before (the start check)"
        )
        parser.add_argument("--batch-size", type=int, default=bucket_backfill.BATCH)

    def handle(self, *args: Any, if_needed: bool, batch_size: int, **options: Any) -> None:
        if if_needed and bucket_backfill.completed(LogEntry.collection()):
            return
        stamped = bucket_backfill.backfill(
            batch_size,
            progress=lambda n: self.stdout.write(f"stamped {n:,} logs") if options["verbosity"] > 1 else None,
        )
        if options["verbosity"]:
            self.stdout.write(f"Stamped {stamped:,} hot logs with their hour and day buckets.")
