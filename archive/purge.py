"""Delete archived logs from MongoDB once their parts are recorded: those logs, never one more.

Two ways, chosen by ARCHIVE_PURGE ("auto" picks by server):

- exact: stream the `_id`s back out of each part and `delete_many({"_id": {"$in": batch}})`
  in batches. Exact on any server, cheap on MongoDB (the `_id` index).
- filter: FerretDB 1.24 evaluates every filter except a lone `_id` equality by reading
  and decoding the whole collection, and `$in` by a linear search per document, so
  exact batches cost (day logs / batch) full scans, each O(collection x batch): hours
  for a 1,000,000-log day. Instead, for parts just exported: one guarded delete of the
  day's logs with `_id <= the largest archived _id`, done only if MongoDB holds exactly
  as many such logs as were archived (every archived log is among them and none was
  deleted since export, so equal counts mean the same set); the deleted count is
  checked again. Any other case (late arrivals in range, recovery of a dead run's
  parts) takes the exact path. See docs/ferretdb.md for the one race this leaves.
"""

import logging
import zlib
from collections.abc import Callable, Iterator
from datetime import date

from bson import ObjectId
from django.conf import settings
from django.utils import timezone

from archive import jsonl
from archive.exporter import day_filter
from archive.models import ArchivePart
from retrieval.models import LogEntry

logger = logging.getLogger(__name__)


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


def purge_by_filter(day: date, parts: list[ArchivePart], max_id: ObjectId) -> bool:
    """The guarded one-delete purge of freshly exported parts; False if the guard says no."""
    collection = LogEntry.collection()
    archived = sum(part.count for part in parts)
    match = {**day_filter(day), "_id": {"$lte": max_id}}
    present = collection.count_documents(match)
    if present != archived:
        logger.info("%s: %d logs in range, %d archived; deleting by _id instead", day, present, archived)
        return False
    deleted = delete_range(collection, match)
    if deleted != archived:
        raise PurgeMismatch(f"{day}: deleted {deleted} logs from MongoDB, archived {archived}")
    ArchivePart.objects.filter(pk__in=[part.pk for part in parts]).update(purged=timezone.now())
    return True
