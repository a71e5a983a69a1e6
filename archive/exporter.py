"""Export one UTC day of hot logs into gzip JSON Lines part files, one pass over MongoDB.

One cursor reads the whole day (a filter on `timestamp` and nothing else: no
sort, no per-group query, because FerretDB scans the whole collection for every
query and sorts in memory). Each document goes to the open writer of its
(user, level); a writer streams gzip to a temporary file and keeps only its
counters in memory. At most MAX_OPEN_WRITERS writers are open: past that the
least recently used one is finished into a part, so memory stays flat however
many users a day has (a (user, level) may then get more than one part).
"""

import gzip
import hashlib
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import BinaryIO

from bson import ObjectId

from archive import jsonl

MAX_OPEN_WRITERS = 64
MAX_PART_LOGS = 1_000_000
COMPRESS_LEVEL = 9  # per (user, level) part, -9 beats gzip -9 of the whole day; CPU is not the bottleneck
BUFFER_BYTES = 256 * 1024
CURSOR_BATCH = 5000
MINUTES_PER_DAY = 24 * 60


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def day_filter(day: date) -> dict:
    start, end = day_bounds(day)
    # Rehydrated logs (engineer C, archive.rehydrate) are already archived: never export or purge them
    # here; archive.rehydrate.expire deletes them when their time is over.
    return {"timestamp": {"$gte": start, "$lt": end}, "rehydrated_until": {"$exists": False}}


class _HashingWriter:
    """A file wrapper that hashes and counts the (compressed) bytes written through it."""

    def __init__(self, file: BinaryIO):
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
    """A finished part on local disk, with what the ledger and the verification need."""

    day: date
    user_id: int
    level: str
    file: BinaryIO
    count: int
    raw_bytes: int
    compressed_bytes: int
    sha256: str
    first_timestamp: datetime
    last_timestamp: datetime
    max_id: ObjectId

    def close(self) -> None:
        self.file.close()


@dataclass
class _PartWriter:
    day: date
    user_id: int
    level: str
    # Closed by PartFile.close() or export_day on failure.
    file: BinaryIO = field(default_factory=lambda: tempfile.TemporaryFile(prefix="archive-part-"))  # noqa: SIM115
    count: int = 0
    raw_bytes: int = 0
    first: datetime | None = None
    last: datetime | None = None
    max_id: ObjectId | None = None
    buffer: list[bytes] = field(default_factory=list)
    buffered: int = 0

    def __post_init__(self):
        self.hashing = _HashingWriter(self.file)
        # mtime=0 and no file name: the same logs always give the same bytes.
        self.gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self.hashing, compresslevel=COMPRESS_LEVEL, mtime=0)

    def add(self, document: dict) -> None:
        line = jsonl.encode(document)
        self.buffer.append(line)
        self.buffered += len(line)
        self.count += 1
        stamp = document["timestamp"]
        if self.first is None or stamp < self.first:
            self.first = stamp
        if self.last is None or stamp > self.last:
            self.last = stamp
        if self.max_id is None or document["_id"] > self.max_id:
            self.max_id = document["_id"]
        if self.buffered >= BUFFER_BYTES:
            self._flush()

    def _flush(self) -> None:
        self.gzip.write(b"".join(self.buffer))
        self.raw_bytes += self.buffered
        self.buffer.clear()
        self.buffered = 0

    def finish(self) -> PartFile:
        self._flush()
        self.gzip.close()
        self.file.seek(0)
        return PartFile(
            day=self.day,
            user_id=self.user_id,
            level=self.level,
            file=self.file,
            count=self.count,
            raw_bytes=self.raw_bytes,
            compressed_bytes=self.hashing.size,
            sha256=self.hashing.sha256.hexdigest(),
            first_timestamp=_aware(self.first),
            last_timestamp=_aware(self.last),
            max_id=self.max_id,
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class DayExport:
    """The part files of a day (the caller closes them) and how many logs fell in each minute of it."""

    parts: list[PartFile]
    per_minute: list[int]

    @property
    def count(self) -> int:
        return sum(self.per_minute)

    def close(self) -> None:
        for part in self.parts:
            part.close()


def export_day(collection, day: date, on_batch: Callable[[int], None] = lambda n: None) -> DayExport:
    """Write every log of `day` now in `collection` into part files.

    `on_batch(n)` is called after every CURSOR_BATCH documents (progress, lock renewal).
    """
    writers: OrderedDict[tuple, _PartWriter] = OrderedDict()
    parts: list[PartFile] = []
    per_minute = [0] * MINUTES_PER_DAY
    seen = 0
    try:
        for document in collection.find(day_filter(day), batch_size=CURSOR_BATCH):
            stamp = document["timestamp"]
            per_minute[stamp.hour * 60 + stamp.minute] += 1
            group = (document["user_id"], document["level"])
            writer = writers.get(group)
            if writer is None:
                if len(writers) >= MAX_OPEN_WRITERS:
                    parts.append(writers.popitem(last=False)[1].finish())
                writer = writers[group] = _PartWriter(day, *group)
            else:
                writers.move_to_end(group)
            writer.add(document)
            if writer.count >= MAX_PART_LOGS:
                parts.append(writers.pop(group).finish())
            seen += 1
            if seen % CURSOR_BATCH == 0:
                on_batch(CURSOR_BATCH)
        on_batch(seen % CURSOR_BATCH)
        parts.extend(writer.finish() for writer in writers.values())
    except BaseException:
        for writer in writers.values():
            writer.file.close()
        for part in parts:
            part.close()
        raise
    return DayExport(parts, per_minute)
