"""Delete archived logs from MongoDB once their parts are recorded: those logs, never one more.

Two ways, chosen by ARCHIVE_PURGE ("auto" picks by server):

- exact: stream the `_id`s back out of each part and `delete_many({"_id": {"$in": batch}})`
  in batches. Exact on any server, cheap on MongoDB (the `_id` index).
- filter: FerretDB 1.24 evaluates every filter except a lone `_id` equality by reading
  and decoding the whole collection, `$in` by a linear search per document, and deletes
  at most 32,766 documents per command. Exact batches there cost (day logs / batch)
  scans of O(collection x batch) each: hours for a 1,000,000-log day. Instead, for
  parts just exported: count the day's logs with `_id <= the largest archived _id`; if
  MongoDB holds exactly as many as were archived (every archived log is among them and
  none was deleted since export, so equal counts mean the same set), delete them by
  time windows of at most 30,000 logs, checking each window's deleted count against
  the export's. Any other case (late arrivals in range, recovery of a dead run's parts)
  takes the exact path. docs/ferretdb.md says which race this leaves.
"""

import logging
import zlib
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta

from bson import ObjectId
from django.conf import settings
from django.utils import timezone

from archive import jsonl
from archive.exporter import day_bounds, day_filter
from archive.models import ArchivePart
from retrieval.models import LogEntry

logger = logging.getLogger(__name__)
# FerretDB's SQLite handler deletes the matched documents with one SQL statement,
# one bound variable each, and SQLite allows at most 32,766: windows stay below.
FILTER_WINDOW_LOGS = 30_000


class PurgeMismatch(RuntimeError):
    """MongoDB deleted a different number of logs than were archived."""


def lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The JSON lines of a gzip part, streamed from its compressed chunks."""
    inflate = zlib.decompressobj(wbits=31)
    rest = b""
    for chunk in chunks:
        *complete, rest = (rest + inflate.decompress(chunk)).split(b"\n")
        yield from complete
    yield from (line for line in (rest + inflate.flush()).split(b"\n") if line)


def server_is_ferretdb() -> bool:
    return "ferretdbVersion" in LogEntry.collection().database.client.admin.command("buildInfo")


def use_filter() -> bool:
    if settings.ARCHIVE_PURGE == "auto":
        return server_is_ferretdb()
    return settings.ARCHIVE_PURGE == "filter"


def purge_exact(part: ArchivePart, chunks: Iterator[bytes], renew: Callable[[], None]) -> None:
    collection = LogEntry.collection()
    batch: list[ObjectId] = []
    for line in lines(chunks):
        batch.append(jsonl.line_id(line))
        if len(batch) >= settings.ARCHIVE_DELETE_BATCH:
            renew()
            delete_batch(collection, batch)
            batch = []
    if batch:
        renew()
        delete_batch(collection, batch)
    ArchivePart.objects.filter(pk=part.pk).update(purged=timezone.now())


def delete_batch(collection, ids: list[ObjectId]) -> None:
    collection.delete_many({"_id": {"$in": ids}})


def delete_range(collection, match: dict) -> int:
    return collection.delete_many(match).deleted_count


def count(collection, match: dict) -> int:
    # The count command: on FerretDB a quarter cheaper than count_documents' aggregation.
    return collection.database.command("count", collection.name, query=match)["n"]


def windows(day: date, per_minute: list[int], limit: int) -> list[tuple[datetime, datetime, int]]:
    """Consecutive minutes of the day grouped into [start, end) windows of at most `limit` logs."""
    start, _ = day_bounds(day)
    found, first, total = [], 0, 0
    for minute, logs in enumerate(per_minute):
        if total and total + logs > limit:
            found.append((start + timedelta(minutes=first), start + timedelta(minutes=minute), total))
            first, total = minute, 0
        total += logs
    if total:
        found.append((start + timedelta(minutes=first), start + timedelta(minutes=len(per_minute)), total))
    return found


def purge_by_filter(day: date, parts: list[ArchivePart], max_id: ObjectId, per_minute: list[int]) -> bool:
    """The guarded purge of freshly exported parts by time windows; False if it cannot be used."""
    collection = LogEntry.collection()
    archived = sum(part.count for part in parts)
    if max(per_minute) > FILTER_WINDOW_LOGS:
        return False  # one minute too full for one delete: FerretDB deletes at most 32,766 documents per command
    match = {**day_filter(day), "_id": {"$lte": max_id}}
    present = count(collection, match)
    if present != archived:
        logger.info("%s: %d logs in range, %d archived; deleting by _id instead", day, present, archived)
        return False
    for start, end, expected in windows(day, per_minute, FILTER_WINDOW_LOGS):
        # day_filter's other clauses too: rehydrated logs (engineer C, archive.rehydrate) are never purged here.
        window = {**day_filter(day), "timestamp": {"$gte": start, "$lt": end}, "_id": {"$lte": max_id}}
        deleted = delete_range(collection, window)
        if deleted != expected:
            raise PurgeMismatch(
                f"{day} {start:%H:%M}-{end:%H:%M}: deleted {deleted} logs from MongoDB, archived {expected}"
            )
    ArchivePart.objects.filter(pk__in=[part.pk for part in parts]).update(purged=timezone.now())
    return True
