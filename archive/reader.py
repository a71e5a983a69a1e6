"""The cold reader: answer a query from the archive parts it needs, and only those.

A part (one `.jsonl.gz` object for a day, user and level) is fetched with one
streamed GET through the archive storage, decompressed block by block and parsed
once into a `PartIndex`: flat columns (timestamps, ids, lower-cased messages,
the raw lines) that filter with `str.find` and pickle in a few milliseconds. The
index goes to the part cache (`archive.cache`), so a repeated query on the same
archived day does not touch object storage. Parts too large for the cache are
still streamed and filtered block by block, never held whole.

Filtering matches the hot side's meaning: time in [start, end), keyword as a
case-insensitive literal substring of the message (plain `in`, never a regex).
Only the rows a page returns are decoded into documents (`archive.jsonl`).
"""

from __future__ import annotations

import bisect
import heapq
import json
import zlib
from array import array
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from storages.utils import clean_name

from archive import cache, jsonl
from archive.models import ArchivePart
from archive.storage import archive_storage
from logsite import metrics

# The archive's timestamp format, fixed width so that string order is time order.
TS_WIDTH = len("2023-08-27T12:30:15.123000Z")
ID_WIDTH = 24
# Joins messages in the search haystack; a keyword containing it is matched per message.
SEP = "\x00"
READ_BYTES = 1 << 20
# Decompressed bytes per index block: bounds memory for parts the cache will not hold.
BLOCK_BYTES = 16 << 20


class ColdReadError(Exception):
    """The archive could not be read (storage down, slow, object missing or corrupt)."""


@dataclass
class PartIndex:
    """A block of archive lines, parsed into columns that filter without re-parsing."""

    text: str  # the JSON lines
    line_starts: array  # offset of each row's line in `text`
    timestamps: str  # TS_WIDTH characters per row
    ids: str  # ID_WIDTH characters per row
    haystack: str  # lower-cased messages joined by SEP
    message_starts: array  # offset of each row's message in `haystack`, then len(haystack) + 1
    first: str  # earliest and latest timestamp of the block
    last: str

    @classmethod
    def parse(cls, text: str) -> PartIndex:
        line_starts, message_starts = array("Q"), array("Q", [0])
        timestamps, ids, messages = [], [], []
        offset = message_offset = 0
        loads = json.loads
        for line in text.splitlines(keepends=True):
            if line.strip():
                document = loads(line)
                stamp = document["timestamp"]
                if len(stamp) != TS_WIDTH:
                    raise ValueError(f"timestamp {stamp!r} is not in the archive's format")
                timestamps.append(stamp)
                ids.append(document["_id"])
                message = document["message"]
                messages.append(message)
                line_starts.append(offset)
                message_offset += len(message) + 1
                message_starts.append(message_offset)
            offset += len(line)
        haystack = SEP.join(messages).lower()
        if len(haystack) != message_starts[-1] - 1 and messages:
            # Lower-casing changed some lengths (e.g. "İ" -> "i̇"): offsets must follow the lowered messages.
            lowered = [message.lower() for message in messages]
            haystack = SEP.join(lowered)
            message_starts = array("Q", [0])
            for message in lowered:
                message_starts.append(message_starts[-1] + len(message) + 1)
        return cls(
            text=text,
            line_starts=line_starts,
            timestamps="".join(timestamps),
            ids="".join(ids),
            haystack=haystack,
            message_starts=message_starts,
            first=min(timestamps, default=""),
            last=max(timestamps, default=""),
        )

    def __len__(self) -> int:
        return len(self.line_starts)

    def timestamp(self, row: int) -> str:
        return self.timestamps[row * TS_WIDTH : (row + 1) * TS_WIDTH]

    def key(self, row: int) -> tuple[str, str]:
        """The row's position in time order: (timestamp, id), as the planner's cursor orders."""
        return self.timestamp(row), self.ids[row * ID_WIDTH : (row + 1) * ID_WIDTH]

    def line(self, row: int) -> str:
        start = self.line_starts[row]
        end = self.text.find("\n", start)
        return self.text[start : None if end == -1 else end]

    def keyword_rows(self, keyword: str) -> Iterator[int]:
        """Rows whose message contains `keyword`, case-insensitively, in row order."""
        needle = keyword.lower()
        if not needle:
            yield from range(len(self))
        elif SEP in needle:
            starts = self.message_starts
            for row in range(len(self)):
                if needle in self.haystack[starts[row] : starts[row + 1] - 1]:
                    yield row
        else:
            find, starts, position = self.haystack.find, self.message_starts, 0
            while (found := find(needle, position)) != -1:
                row = bisect.bisect_right(starts, found) - 1
                yield row
                position = starts[row + 1]

    def rows(self, start: str, end: str, keyword: str) -> Iterator[int]:
        """Rows with start <= timestamp < end whose message contains `keyword`."""
        rows = self.keyword_rows(keyword)
        if start <= self.first and self.last < end:
            return rows
        return (row for row in rows if start <= self.timestamp(row) < end)


def _open(key: str):
    """A binary stream of the stored object: for S3, the body of one GET, as a bare client reads it."""
    storage = archive_storage()
    if hasattr(storage, "bucket_name"):
        client = storage.connection.meta.client
        name = storage._normalize_name(clean_name(key))
        return client.get_object(Bucket=storage.bucket_name, Key=name)["Body"]
    return storage.open(key, "rb")


def read_part(key: str) -> Iterator[str]:
    """The decompressed text of a part, in blocks of whole lines of about BLOCK_BYTES."""
    try:
        with closing(_open(key)) as stream:
            decompressor, pending, in_member = zlib.decompressobj(wbits=31), bytearray(), False
            while chunk := stream.read(READ_BYTES):
                in_member = True
                pending += decompressor.decompress(chunk)
                while decompressor.eof:  # a part may be several concatenated gzip members
                    rest, decompressor = decompressor.unused_data, zlib.decompressobj(wbits=31)
                    in_member = bool(rest)
                    pending += decompressor.decompress(rest)
                if len(pending) >= BLOCK_BYTES and (cut := pending.rfind(b"\n") + 1):
                    yield pending[:cut].decode()
                    del pending[:cut]
            if in_member:
                raise ColdReadError(f"archive part {key} is truncated")
            if pending:
                yield pending.decode()
    except ColdReadError:
        raise
    except (BotoCoreError, ClientError, OSError, zlib.error, UnicodeDecodeError) as exc:
        raise ColdReadError(f"archive part {key}: {exc}") from exc


def parse_part(key: str) -> Iterator[PartIndex]:
    try:
        for text in read_part(key):
            yield PartIndex.parse(text)
    except (ValueError, KeyError, TypeError) as exc:  # a line that is not an archived log
        raise ColdReadError(f"archive part {key} is not valid JSON Lines: {exc}") from exc


def part_blocks(part) -> Iterable[PartIndex]:
    """The parsed blocks of a ledger part: from the cache, or pulled (and cached if it fits)."""
    cache_key = f"{part.key}:{part.sha256}"
    blocks = cache.get(cache_key)
    metrics.count_cache(hit=blocks is not None)
    if blocks is not None:
        return blocks
    if part.raw_bytes > settings.COLD_CACHE_MAX_BYTES // 2:
        return parse_part(part.key)  # too big to cache: stream it, one block in memory at a time
    blocks = list(parse_part(part.key))
    cache.put(cache_key, blocks)
    return blocks


def parts_for(query) -> list[ArchivePart]:
    """The ledger's parts that may hold rows of `query`: its days, users and levels."""
    parts = ArchivePart.objects.filter(
        day__gte=query.start.astimezone(UTC).date(),
        day__lte=query.end.astimezone(UTC).date(),
        first_timestamp__lt=query.end,
        last_timestamp__gte=query.start,
    )
    if query.user_ids:
        parts = parts.filter(user_id__in=query.user_ids)
    if query.levels:
        parts = parts.filter(level__in=query.levels)
    return list(parts)


def fetch(query, after: tuple[datetime, str] | None, limit: int) -> list[dict]:
    """Up to `limit` archived log documents matching `query`, strictly after `after`, in query order.

    Parts are read in query order of their time bounds, and reading stops at the
    first part that cannot hold a row earlier (in query order) than the page's last.
    """
    descending = query.newest_first
    start, end = jsonl.format_timestamp(query.start), jsonl.format_timestamp(query.end)
    after_key = (jsonl.format_timestamp(after[0]), after[1]) if after else None
    parts = sorted(
        parts_for(query),
        key=lambda part: part.last_timestamp if descending else part.first_timestamp,
        reverse=descending,
    )
    best = heapq.nlargest if descending else heapq.nsmallest
    page: list[tuple[tuple[str, str], PartIndex, int]] = []
    for part in parts:
        if len(page) == limit:
            bound = jsonl.format_timestamp(part.last_timestamp if descending else part.first_timestamp)
            if (bound < page[-1][0][0]) if descending else (bound > page[-1][0][0]):
                break
        for block in part_blocks(part):
            candidates = ((block.key(row), block, row) for row in block.rows(start, end, query.keyword))
            if after_key is not None:
                candidates = (c for c in candidates if (c[0] < after_key if descending else c[0] > after_key))
            page = best(limit, chain(page, candidates), key=lambda c: c[0])
    return [jsonl.decode(block.line(row)) for _, block, row in page]


def matching_timestamps(query) -> Iterator[tuple[str, str]]:
    """(timestamp, level) of every archived row matching `query`; timestamps in the archive's format."""
    start, end = jsonl.format_timestamp(query.start), jsonl.format_timestamp(query.end)
    for part in parts_for(query):
        for block in part_blocks(part):
            for row in block.rows(start, end, query.keyword):
                yield block.timestamp(row), part.level
