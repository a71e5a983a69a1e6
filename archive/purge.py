"""Delete archived logs from MongoDB once their parts are recorded: those logs, never one more.

Every delete names the ids it may remove, read back from recorded parts: the local
copy of a part that was just verified byte for byte against the stored object, or the
stored object itself when a later run finishes a dead run's purge. No filter can match
a log that is not in a recorded part, whatever arrives or is re-sent meanwhile.

The ids are bucketed by minute of the day and deleted in windows of at most
`delete_window()` logs in time order, one command each:

    {"timestamp": <window's minutes>, "rehydrated_until": {"$exists": false},
     "$or": [{"timestamp": <chunk's minutes>, "_id": {"$in": <at most IN_CHUNK ids>}}, ...]}

On MongoDB each branch is an `_id` index lookup. FerretDB 1.24 uses no index: each
command reads the whole collection; the leading time range rejects other windows' logs
at once, and chunks of IN_CHUNK ids balance the high fixed cost of an `$or` branch
against `$in`'s linear search (measured in docs/ferretdb.md). Its SQLite handler deletes
the matches with one bound variable each (SQLite allows 32,766), hence MAX_WINDOW.

The day lock is renewed before every command; if it was lost, LockLost stops the purge
(what was deleted is archived; the next run's recovery deletes the rest).
"""

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, timedelta

from bson import ObjectId
from django.conf import settings
from django.utils import timezone
from pymongo.collection import Collection

from archive import jsonl
from archive.models import ArchivePart
from retrieval.buckets import day_bounds
from retrieval.models import LogEntry

logger = logging.getLogger(__name__)
MAX_WINDOW = 30_000
IN_CHUNK = 1_000
MINUTES_PER_DAY = 24 * 60
ID_BYTES = 12


def delete_window() -> int:
    return max(1, min(settings.ARCHIVE_DELETE_BATCH, MAX_WINDOW))


def lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The JSON lines of a gzip part, from its compressed chunks."""
    for block in jsonl.gzip_line_blocks(chunks):
        yield from (line for line in block.split(b"\n") if line)


class DayIds:
    """The ids to delete for one day, bucketed by minute: 12 bytes each, no per-id objects."""

    def __init__(self, day: date):
        self.day = day
        self.prefix = day.isoformat() + "T"
        self.by_minute = [bytearray() for _ in range(MINUTES_PER_DAY)]
        self.count = 0

    def add(self, timestamp: str, log_id: str) -> None:
        """`timestamp` and `log_id` as the archive writes them (jsonl)."""
        if not timestamp.startswith(self.prefix):
            raise ValueError(f"log {log_id} at {timestamp} is not of {self.day}")
        minute = int(timestamp[11:13]) * 60 + int(timestamp[14:16])
        self.by_minute[minute] += bytes.fromhex(log_id)
        self.count += 1

    def add_part(self, chunks: Iterable[bytes]) -> None:
        for line in lines(chunks):
            self.add(*jsonl.line_position(line))

    def chunks(self, size: int) -> Iterator[tuple[int, int, list[ObjectId]]]:
        """(first minute, last minute, ids): consecutive runs of at most `size` ids in minute order."""
        ids: list[ObjectId] = []
        first = last = 0
        for minute, packed in enumerate(self.by_minute):
            for at in range(0, len(packed), ID_BYTES):
                if not ids:
                    first = minute
                last = minute
                ids.append(ObjectId(bytes(packed[at : at + ID_BYTES])))
                if len(ids) == size:
                    yield first, last, ids
                    ids = []
        if ids:
            yield first, last, ids

    def windows(self) -> Iterator[list[tuple[int, int, list[ObjectId]]]]:
        """The delete commands' contents: windows of delete_window() ids, each in chunks of IN_CHUNK."""
        window: list[tuple[int, int, list[ObjectId]]] = []
        held = 0
        size = delete_window()
        for chunk in self.chunks(min(IN_CHUNK, size)):
            if held + len(chunk[2]) > size:
                yield window
                window, held = [], 0
            window.append(chunk)
            held += len(chunk[2])
        if window:
            yield window


def window_filter(day: date, window: list[tuple[int, int, list[ObjectId]]]) -> dict:
    """One delete command's filter: exactly the window's ids (see the module docstring)."""
    start, _ = day_bounds(day)

    def minutes(first: int, last: int) -> dict:
        return {"$gte": start + timedelta(minutes=first), "$lt": start + timedelta(minutes=last + 1)}

    # Key order matters on FerretDB: it stops at the first clause a log fails, so the time range leads.
    match: dict = {"timestamp": minutes(window[0][0], window[-1][1]), "rehydrated_until": {"$exists": False}}
    if len(window) == 1:
        match["_id"] = {"$in": window[0][2]}
    else:
        match["$or"] = [{"timestamp": minutes(first, last), "_id": {"$in": ids}} for first, last, ids in window]
    return match


def delete_window_of_ids(collection: Collection, match: dict) -> int:
    return collection.delete_many(match).deleted_count


def purge(day: date, ids: DayIds, renew: Callable[[], None]) -> int:
    """Delete `ids` (all of `day`) from MongoDB; returns how many were still there."""
    collection = LogEntry.collection()
    deleted = 0
    for window in ids.windows():
        renew()
        deleted += delete_window_of_ids(collection, window_filter(day, window))
    return deleted


def purge_parts(
    day: date,
    parts: Sequence[tuple[ArchivePart, Iterable[bytes]]],
    renew: Callable[[], None],
    also: Iterable[tuple[str, str]] = (),
) -> int:
    """Delete the logs of recorded `parts` (each with its gzip chunks) and `also` from MongoDB, then mark the
    parts purged. `also`: (timestamp, id) of hot logs that recorded parts of the day already hold."""
    ids = DayIds(day)
    for _, chunks in parts:
        ids.add_part(chunks)
    for timestamp, log_id in also:
        ids.add(timestamp, log_id)
    deleted = purge(day, ids, renew)
    ArchivePart.objects.filter(pk__in=[part.pk for part, _ in parts]).update(purged=timezone.now())
    logger.info("%s: deleted %d of %d archived logs from MongoDB", day, deleted, ids.count)
    return deleted
