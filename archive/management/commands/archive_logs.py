from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from pymongo.errors import PyMongoError
from tqdm import tqdm

from access import audit
from access.models import AuditEvent
from archive.archiver import ArchiveStorageError, archive_logs, due_before
from archive.locks import LockLost
from retrieval.buckets import day_bounds
from retrieval.models import LogEntry


class Command(BaseCommand):
    help = (
        "Archive every complete UTC day before --before (default: today minus HOT_RETENTION_DAYS) "
        "to object storage, as the daily Celery beat task does."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--before",
            type=date.fromisoformat,
            default=None,
            help="archive the days strictly before this one, YYYY-MM-DD (default: today minus HOT_RETENTION_DAYS)",
        )
        parser.add_argument("--dry-run", action="store_true", help="only say how many logs would be archived")

    def handle(self, *args: Any, before: date | None, dry_run: bool, **options: Any) -> None:
        before = before or due_before()
        if before > timezone.now().date():
            raise CommandError(f"--before {before}: only complete UTC days can be archived (at most today's date)")
        due = {"timestamp": {"$lt": day_bounds(before)[0]}}
        try:
            total = LogEntry.collection().count_documents(due)
            if dry_run:
                self.stdout.write(
                    f"Would archive {total:,} logs from the days before {before} (dry run: nothing changed)."
                )
                return
            audit.record(AuditEvent.Action.ARCHIVE_RUN, params={"trigger": "command", "before": before.isoformat()})
            with tqdm(total=total, unit="log", disable=options["verbosity"] < 1 or not total, file=self.stderr) as bar:
                run = archive_logs(before=before, trigger="command", progress=bar.update)
        except (ArchiveStorageError, LockLost) as exc:
            raise CommandError(f"Archive run failed, nothing unverified was deleted: {exc}") from exc
        except PyMongoError as exc:
            # One line instead of the driver's traceback; a server selection timeout's message
            # goes on with the whole topology after ", Timeout:".
            reason = str(exc).splitlines()[0].split(", Timeout:")[0][:300]
            raise CommandError(f"MongoDB is unreachable or failed, nothing unverified was deleted: {reason}") from exc
        ratio = f", compression {run.compression_ratio:.1f}x" if run.compression_ratio else ""
        self.stdout.write(
            f"Archive run {run.pk}: {run.logs:,} logs from {run.days} days before {before}, "
            f"{run.compressed_bytes:,} bytes stored{ratio}."
        )
