"""Celery tasks of the archive. The beat schedule (admin: Periodic tasks) runs `archive.archive_old_logs`."""

from celery import shared_task
from pymongo.errors import PyMongoError

from archive import rehydrate
from archive.archiver import ArchiveStorageError, archive_logs
from archive.locks import LockLost


@shared_task(
    name="archive.archive_old_logs",
    # Storage or MongoDB down, or a lock lost: the run is failed in the ledger,
    # nothing unverified was deleted, and the whole run is tried again later.
    autoretry_for=(ArchiveStorageError, PyMongoError, LockLost),
    retry_backoff=60,
    retry_backoff_max=3600,
    max_retries=6,
)
def archive_old_logs(trigger: str = "beat") -> dict:
    """Archive every complete UTC day older than HOT_RETENTION_DAYS, oldest first."""
    run = archive_logs(trigger=trigger)
    return {"run": run.pk, "days": run.days, "logs": run.logs}


@shared_task(name="archive.expire_rehydrated_logs")
def expire_rehydrated_logs() -> int:
    """Delete logs loaded back from the archive whose rehydration time is over (archive.rehydrate)."""
    return rehydrate.expire()
