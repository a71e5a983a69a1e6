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

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone
from pymongo.collection import Collection

from archive import jsonl, reader
from archive.models import ArchivePart
from archive.purge import delete_window
from retrieval import hotstore
from retrieval.buckets import day_bounds
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


def expiry_batches(collection: Collection, now: datetime) -> Iterator[dict]:
    """Delete filters that together match every rehydrated log due at `now`, each at most `delete_window()` logs.

    One delete of them all fails past 65,535 logs on FerretDB's PostgreSQL handler (one SQL parameter per
    deleted document), as past 32,766 on its SQLite handler. The filters are time ranges cut between distinct
    timestamps (no `_id` lists: FerretDB tests `$in` by a linear search per document); nothing new becomes
    due meanwhile (rehydration sets times in the future), so a range matches no more than were counted in it.
    """
    due = {FIELD: {"$lte": now}}
    size = delete_window()
    stamps = sorted(row["timestamp"] for row in collection.find(due, {"_id": 0, "timestamp": 1}))
    start = 0
    while start < len(stamps):
        end = min(start + size, len(stamps))
        # Back off to the last change of timestamp, so that logs of one millisecond share a range.
        while end < len(stamps) and end > start and stamps[end - 1] == stamps[end]:
            end -= 1
        if end == start:  # more than `size` logs in one millisecond: delete them `size` ids at a time
            yield from same_time_batches(collection, {"timestamp": stamps[start], **due}, size)
            end = bisect_right(stamps, stamps[start])
        else:
            # The time range first: FerretDB stops at the first clause a log fails (docs/ferretdb.md).
            upper = {"$lt": stamps[end]} if end < len(stamps) else {"$lte": stamps[end - 1]}
            yield {"timestamp": {"$gte": stamps[start], **upper}, **due}
        start = end


def same_time_batches(collection: Collection, match: dict, size: int) -> Iterator[dict]:
    while ids := [row["_id"] for row in collection.find(match, {"_id": 1}).limit(size)]:
        yield {**match, "_id": {"$in": ids}}


def expire(now: datetime | None = None) -> int:
    """Delete rehydrated logs whose time is over; returns how many were deleted."""
    now = now or timezone.now()
    collection = LogEntry.collection()
    deleted = sum(collection.delete_many(match).deleted_count for match in expiry_batches(collection, now))
    # Unmarked only once their logs are gone: until then the histogram still leaves them out of the cold count.
    ArchivePart.objects.filter(rehydrated_until__lte=now).update(rehydrated_until=None)
    return deleted
