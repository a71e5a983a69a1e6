from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from archive.archiver import ArchiveStorageError, index_archived_ids
from archive.locks import LockLost
from archive.reader import ColdReadError


class Command(BaseCommand):
    help = (
        "Write the id index of archive parts recorded before it existed, day by day, oldest first, so that "
        "/logs/<id> and ingest's duplicate check find their logs whatever time the ids carry. Resumable: "
        "a day is indexed whole or not at all, and days done are skipped when run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        def progress(day: date, parts: int) -> None:
            if options["verbosity"] >= 1:
                self.stdout.write(f"{day}: indexed the ids of {parts:,} parts")

        try:
            run = index_archived_ids(trigger="index_archived_ids", progress=progress)
        except (ArchiveStorageError, ColdReadError, LockLost) as exc:
            raise CommandError(f"Indexing stopped (days done so far stay indexed; run again to go on): {exc}") from exc
        self.stdout.write(f"Run {run.pk}: every archive part has an id index except days another archiver held.")
