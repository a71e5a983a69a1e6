"""Rehydration: load archived parts back into MongoDB for a limited time, then remove them again.

Rehydrated documents carry `rehydrated_until` (a UTC datetime), which is what
keeps them apart from ordinary hot logs:
- the archiver's day selection (`archive.exporter.day_filter`) leaves documents
  with this field out, so they are never exported or uploaded a second time;
- `expire` (hourly beat task `archive.expire_rehydrated_logs`, and the command
  `expire_rehydrated_logs`) deletes them once their time is over;
- the search counts each log once: rows by `_id` (hot wins), histogram buckets
  by leaving out archived logs MongoDB also holds (`archive.source`), which it
  recognises by the part's own `rehydrated_until`.
"""

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from archive import jsonl, reader
from archive.exporter import day_bounds
from archive.models import ArchivePart
from retrieval import hotstore
from retrieval.models import LogEntry

FIELD = "rehydrated_until"
INSERT_BATCH = 5000


def parts_of(day: date, user_id: int | None = None) -> QuerySet[ArchivePart]:
    parts = ArchivePart.objects.filter(day=day)
    return parts if user_id is None else parts.filter(user_id=user_id)


def rehydrate(parts: Iterable[ArchivePart], hours: float) -> int:
    """Load the logs of `parts` into MongoDB until `hours` from now; returns how many were inserted.

    Raises reader.ColdReadError if object storage cannot be read (what was loaded stays, and expires).
    """
    until = timezone.now() + timedelta(hours=hours)
    collection = LogEntry.collection()
    inserted = 0
    for part in parts:
        # The part is marked before its logs arrive, so the histogram never counts a log twice.
        ArchivePart.objects.filter(pk=part.pk).update(rehydrated_until=until)
        start, end = day_bounds(part.day)
        # Already rehydrated: keep them longer rather than insert them twice.
        collection.update_many(
            {
                "user_id": part.user_id,
                "level": part.level,
                "timestamp": {"$gte": start, "$lt": end},
                FIELD: {"$exists": True},
            },
            {"$set": {FIELD: until}},
        )
        batch = []
        for text in reader.read_part(part.key):
            for line in text.splitlines():
                if line.strip():
                    batch.append({**jsonl.decode(line), FIELD: until})
                if len(batch) == INSERT_BATCH:
                    inserted += hotstore.insert(batch)
                    batch = []
        inserted += hotstore.insert(batch)
    return inserted


def expire(now: datetime | None = None) -> int:
    """Delete rehydrated logs whose time is over; returns how many were deleted."""
    now = now or timezone.now()
    deleted = LogEntry.collection().delete_many({FIELD: {"$lte": now}}).deleted_count
    # Unmarked only once their logs are gone: until then the histogram still leaves them out of the cold count.
    ArchivePart.objects.filter(rehydrated_until__lte=now).update(rehydrated_until=None)
    return deleted
