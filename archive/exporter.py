"""Export one UTC day of hot logs into gzip JSON Lines part files: one part per (user, level) per run.

The day's logs are read in (user_id, level, timestamp, _id) order, so the parts are
written one after the other: one open file and flat memory however many users a day
has, and one part per (user, level) group, split only past MAX_PART_LOGS.

Where that order comes from (ARCHIVE_EXPORT_SORT, "auto" picks by server):
- "server": MongoDB walks the `user_level_time` index (hinted), no sort in memory;
- "local": FerretDB 1.24 uses no index and sorts in the memory of its own process,
  so the exporter reads the day unsorted and sorts it itself: sorted runs of at most
  SORT_RUN_BYTES, spilled to disk when there is more than one, then merged (at most
  MAX_MERGE_FILES open at once, merging runs into bigger runs first when there are more).

Finished parts are closed files in a temporary directory, so open files do not grow
with the number of parts. A log whose `_id` a recorded part of the day already holds
(sent again after its day was archived, racing the ingest check) is not written a
second time: it is listed in `DayExport.already_archived` for the purge instead.
"""

import gzip
import hashlib
import heapq
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from io import BufferedReader
from pathlib import Path
from typing import IO

from django.conf import settings
from pymongo.collection import Collection

from archive import jsonl, minutes, reader
from archive.models import ArchivePart
from logsite.mongodb.ferretdb import server_is_ferretdb
from retrieval.buckets import day_bounds

MAX_PART_LOGS = 1_000_000
COMPRESS_LEVEL = 9  # per (user, level) part, -9 beats gzip -9 of the whole day; CPU is not the bottleneck
BUFFER_BYTES = 256 * 1024
CURSOR_BATCH = 5000
SORT_RUN_BYTES = 32 << 20  # encoded lines held in memory before a sorted run is spilled to disk
MAX_MERGE_FILES = 64
SERVER_ORDER = [("user_id", 1), ("level", 1), ("timestamp", 1), ("_id", 1)]
SERVER_INDEX = "user_level_time"

# (user_id, level, timestamp + id as in the archive, encoded line): sorts in the export order.
Record = tuple[int, str, str, bytes]
Progress = Callable[[int], None]


def day_filter(day: date) -> dict:
    start, end = day_bounds(day)
    # Rehydrated logs (archive.rehydrate) are already archived: never export or purge them
    # here; archive.rehydrate.expire deletes them when their time is over.
    return {"timestamp": {"$gte": start, "$lt": end}, "rehydrated_until": {"$exists": False}}


def sorts_on_server(collection: Collection) -> bool:
    if settings.ARCHIVE_EXPORT_SORT == "auto":
        return not server_is_ferretdb(collection)
    return settings.ARCHIVE_EXPORT_SORT == "server"


def to_record(document: dict) -> Record:
    line = jsonl.encode(document)
    timestamp, log_id = jsonl.line_position(line)
    return document["user_id"], document["level"], timestamp + log_id, line


def _counted(documents: Iterable[dict], on_batch: Progress) -> Iterator[dict]:
    """The documents, calling `on_batch(n)` after every CURSOR_BATCH of them and once at the end."""
    seen = 0
    for document in documents:
        yield document
        seen += 1
        if seen % CURSOR_BATCH == 0:
            on_batch(CURSOR_BATCH)
    on_batch(seen % CURSOR_BATCH)


def server_sorted(collection: Collection, day: date, on_batch: Progress) -> Iterator[Record]:
    cursor = collection.find(day_filter(day), batch_size=CURSOR_BATCH).sort(SERVER_ORDER).hint(SERVER_INDEX)
    return map(to_record, _counted(cursor, on_batch))


def _write_run(records: Iterable[Record], directory: Path, number: int) -> Path:
    """A sorted run on disk: one `user_id TAB level TAB key TAB line` per log (lines hold no raw tab or newline)."""
    path = directory / f"run-{number}"
    with open(path, "wb") as file:
        for user_id, level, key, line in records:
            file.write(f"{user_id}\t{level}\t{key}\t".encode() + line)
    return path


def _read_run(path: Path) -> Iterator[Record]:
    with open(path, "rb") as file:
        for raw in file:
            user_id, level, key, line = raw.split(b"\t", 3)
            yield int(user_id), level.decode(), key.decode(), line


def _merge_runs(runs: list[Path], directory: Path) -> list[Path]:
    """Merge runs into bigger ones until at most MAX_MERGE_FILES remain (open files stay bounded)."""
    number = len(runs)
    while len(runs) > MAX_MERGE_FILES:
        group, runs = runs[:MAX_MERGE_FILES], runs[MAX_MERGE_FILES:]
        runs.append(_write_run(heapq.merge(*map(_read_run, group)), directory, number))
        number += 1
        for path in group:
            path.unlink()
    return runs


def locally_sorted(collection: Collection, day: date, on_batch: Progress, directory: Path) -> Iterator[Record]:
    """The day in export order, sorted here: an external merge sort with runs of SORT_RUN_BYTES."""
    runs: list[Path] = []
    batch: list[Record] = []
    held = 0
    for document in _counted(collection.find(day_filter(day), batch_size=CURSOR_BATCH), on_batch):
        record = to_record(document)
        batch.append(record)
        held += len(record[3])
        if held >= SORT_RUN_BYTES:
            batch.sort()
            runs.append(_write_run(batch, directory, len(runs)))
            batch, held = [], 0
    batch.sort()
    if not runs:
        return iter(batch)  # the common case: the day fits one run, nothing touches the disk
    runs.append(_write_run(batch, directory, len(runs)))
    return heapq.merge(*map(_read_run, _merge_runs(runs, directory)))


class _HashingWriter:
    """A file wrapper that hashes and counts the (compressed) bytes written through it."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()


@dataclass
class PartFile:
    """A finished part on local disk (closed), with what the ledger and the verification need."""

    day: date
    user_id: int
    level: str
    path: Path
    count: int
    raw_bytes: int
    compressed_bytes: int
    sha256: str
    first_timestamp: datetime
    last_timestamp: datetime
    minute_counts: list[list[int]]  # archive.minutes.encode

    def open(self) -> BufferedReader:
        return open(self.path, "rb")

    def ledger_fields(self) -> dict:
        """What the ledger's ArchivePart records of this part (besides its run and key)."""
        return {name: value for name, value in vars(self).items() if name != "path"}


@dataclass
class _PartWriter:
    day: date
    user_id: int
    level: str
    path: Path
    count: int = 0
    raw_bytes: int = 0
    first: str = ""
    last: str = ""
    buffer: list[bytes] = field(default_factory=list)
    buffered: int = 0
    minutes: Counter[int] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.file = open(self.path, "wb")  # noqa: SIM115 (closed by finish or close)
        self.hashing = _HashingWriter(self.file)
        # mtime=0 and no file name: the same logs always give the same bytes.
        self.gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self.hashing, compresslevel=COMPRESS_LEVEL, mtime=0)

    def add(self, key: str, line: bytes) -> None:
        self.buffer.append(line)
        self.buffered += len(line)
        self.count += 1
        # Records come in (timestamp, _id) order within a part.
        self.first = self.first or key[: jsonl.TIMESTAMP_WIDTH]
        self.last = key[: jsonl.TIMESTAMP_WIDTH]
        self.minutes[minutes.minute_of_day(key)] += 1
        if self.buffered >= BUFFER_BYTES:
            self._flush()

    def _flush(self) -> None:
        self.gzip.write(b"".join(self.buffer))
        self.raw_bytes += self.buffered
        self.buffer.clear()
        self.buffered = 0

    def close(self) -> None:
        self.file.close()

    def finish(self) -> PartFile:
        self._flush()
        self.gzip.close()
        self.file.close()
        return PartFile(
            day=self.day,
            user_id=self.user_id,
            level=self.level,
            path=self.path,
            count=self.count,
            raw_bytes=self.raw_bytes,
            compressed_bytes=self.hashing.size,
            sha256=self.hashing.sha256.hexdigest(),
            first_timestamp=jsonl.parse_timestamp(self.first),
            last_timestamp=jsonl.parse_timestamp(self.last),
            minute_counts=minutes.encode(self.minutes),
        )


class ArchivedIds:
    """The ids that the day's recorded parts already hold, one (user, level) group at a time."""

    def __init__(self, day: date):
        self.day = day
        self.groups = set(ArchivePart.objects.filter(day=day).values_list("user_id", "level"))

    def of(self, user_id: int, level: str) -> set[str]:
        if (user_id, level) not in self.groups:
            return set()
        ids: set[str] = set()
        for part in ArchivePart.objects.filter(day=self.day, user_id=user_id, level=level):
            ids |= reader.part_ids(part)
        return ids


@dataclass
class DayExport:
    """The part files of a day, and the logs left out because they are archived already."""

    parts: list[PartFile]
    count: int  # logs read from MongoDB
    already_archived: list[tuple[str, str]]  # (timestamp, id) as in the archive
    directory: tempfile.TemporaryDirectory

    def close(self) -> None:
        self.directory.cleanup()


def export_day(collection: Collection, day: date, on_batch: Progress = lambda n: None) -> DayExport:
    """Write every log of `day` now in `collection` into part files, one per (user, level).

    `on_batch(n)` is called after every CURSOR_BATCH documents read (progress, lock renewal).
    """
    directory = tempfile.TemporaryDirectory(prefix="archive-day-")
    root = Path(directory.name)
    read = 0

    def counting(n: int) -> None:
        nonlocal read
        read += n
        on_batch(n)

    parts: list[PartFile] = []
    already: list[tuple[str, str]] = []
    archived_ids = ArchivedIds(day)
    writer: _PartWriter | None = None
    group, known = None, set()
    try:
        if sorts_on_server(collection):
            records = server_sorted(collection, day, counting)
        else:
            records = locally_sorted(collection, day, counting, root)
        for user_id, level, key, line in records:
            if (user_id, level) != group:
                group, known = (user_id, level), archived_ids.of(user_id, level)
                if writer is not None:
                    parts.append(writer.finish())
                    writer = None
            if known and key[jsonl.TIMESTAMP_WIDTH :] in known:
                already.append((key[: jsonl.TIMESTAMP_WIDTH], key[jsonl.TIMESTAMP_WIDTH :]))
                continue
            if writer is None or writer.count >= MAX_PART_LOGS:
                if writer is not None:
                    parts.append(writer.finish())
                writer = _PartWriter(day, user_id, level, root / f"part-{len(parts)}.jsonl.gz")
            writer.add(key, line)
        if writer is not None:
            parts.append(writer.finish())
            writer = None
    except BaseException:
        if writer is not None:
            writer.close()
        directory.cleanup()
        raise
    for run in root.glob("run-*"):  # merged already: free the disk before the uploads
        run.unlink()
    return DayExport(parts, read, already, directory)
