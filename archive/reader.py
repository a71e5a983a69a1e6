"""The cold reader: answer a query from the archive parts it needs, and only those.

A part (one `.jsonl.gz` object for a day, user and level) is fetched with one
streamed GET through the archive storage, decompressed block by block and parsed
once into a `PartIndex`: flat columns (timestamps, ids, lower-cased messages,
the raw lines) that filter with `str.find` and bisection, and pickle fast. The
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
from itertools import accumulate, chain, islice
from operator import gt, itemgetter
from typing import IO, TYPE_CHECKING, cast

from botocore.exceptions import BotoCoreError, ClientError
from bson import ObjectId
from django.conf import settings
from storages.utils import clean_name

from archive import cache, jsonl
from archive.metrics import COLD_CACHE_LOOKUPS
from archive.models import ArchivePart
from archive.storage import archive_storage
from retrieval.compression import TruncatedGzip
from retrieval.query import LogQuery

if TYPE_CHECKING:
    from storages.backends.s3 import S3Storage

# The archive's timestamp format, fixed width so that string order is time order.
TS_WIDTH = jsonl.TIMESTAMP_WIDTH
ID_WIDTH = jsonl.ID_WIDTH
# Joins messages in the search haystack; a keyword containing it is matched per message.
SEP = "\x00"
READ_BYTES = 1 << 20
# Decompressed bytes per index block: bounds memory for parts the cache will not hold.
BLOCK_BYTES = 16 << 20


KEY_WIDTH = TS_WIDTH + ID_WIDTH
_DECODER = json.JSONDecoder()


class ColdReadError(Exception):
    """The archive could not be read (storage down, slow, object missing or corrupt)."""


class _Keys:
    """The fixed-width keys blob as a sequence of (timestamp + id) strings, for `bisect`."""

    def __init__(self, blob: str):
        self.blob = blob

    def __len__(self) -> int:
        return len(self.blob) // KEY_WIDTH

    def __getitem__(self, row: int) -> str:
        return self.blob[row * KEY_WIDTH : (row + 1) * KEY_WIDTH]


@dataclass
class PartIndex:
    """A block of archive lines, parsed once into columns sorted by (timestamp, id).

    A row's key is its timestamp followed by its id, both fixed width, so string
    order is the planner's (timestamp, id) order: time bounds and the cursor are
    found by bisection, and keyword hits come out in order, so a page stops after
    `limit` hits instead of scanning the block.
    """

    text: str  # the JSON lines, in row order
    line_starts: array  # offset of each row's line in `text`, then len(text)
    keys: str  # KEY_WIDTH characters per row: timestamp then id
    haystack: str  # lower-cased messages joined by SEP, in row order
    message_starts: array  # offset of each row's message in `haystack`, then len(haystack) + 1

    @classmethod
    def parse(cls, text: str) -> PartIndex:
        keys, lines, messages = [], [], []
        # Archive lines are compact JSON objects: raw_decode skips json.loads' whitespace handling.
        decode = _DECODER.raw_decode
        for line in text.splitlines():
            if not line.strip():
                continue
            document, end = decode(line)
            stamp, log_id = document["timestamp"], document["_id"]
            if end != len(line) or len(stamp) != TS_WIDTH or len(log_id) != ID_WIDTH:
                raise ValueError(f"line {line[:200]!r} is not in the archive's format")
            keys.append(stamp + log_id)
            lines.append(line)
            messages.append(document["message"])
        # Parts are written about in time order: usually nothing to sort.
        if any(map(gt, keys, islice(keys, 1, None))):
            order = sorted(range(len(keys)), key=keys.__getitem__)
            keys, lines, messages = ([column[i] for i in order] for column in (keys, lines, messages))
        return cls(text="\n".join(lines), line_starts=_starts(lines), keys="".join(keys), **_haystack(messages))

    def __len__(self) -> int:
        return len(self.line_starts) - 1

    def timestamp(self, row: int) -> str:
        return self.keys[row * KEY_WIDTH : row * KEY_WIDTH + TS_WIDTH]

    def sort_key(self, row: int) -> str:
        return self.keys[row * KEY_WIDTH : (row + 1) * KEY_WIDTH]

    def key(self, row: int) -> tuple[str, str]:
        """The row's position in time order: (timestamp, id), as the planner's cursor orders."""
        at = row * KEY_WIDTH
        return self.keys[at : at + TS_WIDTH], self.keys[at + TS_WIDTH : at + KEY_WIDTH]

    def line(self, row: int) -> str:
        return self.text[self.line_starts[row] : self.line_starts[row + 1] - 1]

    def span(self, start: str, end: str, after: str | None, descending: bool) -> tuple[int, int]:
        """Rows [low, high) with start <= timestamp < end and strictly after the cursor key in query order."""
        keys = _Keys(self.keys)
        # A key (timestamp + id) sorts after its timestamp alone: bisect_left finds the first row at a time.
        low, high = bisect.bisect_left(keys, start), bisect.bisect_left(keys, end)
        if after is not None:
            if descending:
                high = min(high, bisect.bisect_left(keys, after))
            else:
                low = max(low, bisect.bisect_right(keys, after))
        return low, max(low, high)

    def rows(self, low: int, high: int, keyword: str, descending: bool = False) -> Iterator[int]:
        """Rows in [low, high) whose message contains `keyword` (case-insensitive), in the given order."""
        needle = keyword.lower()
        if low >= high:
            return
        if not needle:
            yield from (range(high - 1, low - 1, -1) if descending else range(low, high))
        elif SEP in needle:
            haystack, starts = self.haystack, self.message_starts
            for row in range(high - 1, low - 1, -1) if descending else range(low, high):
                if needle in haystack[starts[row] : starts[row + 1] - 1]:
                    yield row
        elif descending:
            rfind, starts, until = self.haystack.rfind, self.message_starts, self.message_starts[high] - 1
            while until > starts[low] and (found := rfind(needle, starts[low], until)) != -1:
                row = bisect.bisect_right(starts, found) - 1
                yield row
                until = starts[row] - 1
        else:
            find, starts, position, until = (
                self.haystack.find,
                self.message_starts,
                self.message_starts[low],
                self.message_starts[high] - 1,
            )
            while (found := find(needle, position, until)) != -1:
                row = bisect.bisect_right(starts, found) - 1
                yield row
                position = starts[row + 1]


def _starts(pieces: list[str]) -> array:
    """Offsets of `pieces` joined by one separator character, then the total + 1."""
    return array("Q", accumulate(map((1).__add__, map(len, pieces)), initial=0))


def _haystack(messages: list[str]) -> dict:
    haystack = SEP.join(messages).lower()
    if len(haystack) != sum(map(len, messages)) + len(messages) - 1 and messages:
        # Lower-casing changed some lengths (e.g. "İ" -> "i̇"): offsets must follow the lowered messages.
        messages = [message.lower() for message in messages]
        haystack = SEP.join(messages)
    return {"haystack": haystack, "message_starts": _starts(messages)}


def open_object(key: str) -> IO[bytes]:
    """A binary stream of the stored object: for S3, the body of one GET, as a bare client reads it."""
    storage = archive_storage()
    if hasattr(storage, "bucket_name"):
        s3 = cast("S3Storage", storage)
        client = s3.connection.meta.client
        name = s3._normalize_name(clean_name(key))
        return client.get_object(Bucket=s3.bucket_name, Key=name)["Body"]
    return storage.open(key, "rb")


def read_part(key: str) -> Iterator[str]:
    """The decompressed text of a part, in blocks of whole lines of about BLOCK_BYTES."""
    try:
        with closing(open_object(key)) as stream:
            for block in jsonl.gzip_line_blocks(iter(lambda: stream.read(READ_BYTES), b""), BLOCK_BYTES):
                yield block.decode()
    except TruncatedGzip as exc:
        raise ColdReadError(f"archive part {key} is truncated") from exc
    except (BotoCoreError, ClientError, OSError, zlib.error, UnicodeDecodeError) as exc:
        raise ColdReadError(f"archive part {key}: {exc}") from exc


def parse_part(key: str) -> Iterator[PartIndex]:
    try:
        for text in read_part(key):
            yield PartIndex.parse(text)
    except (ValueError, KeyError, TypeError) as exc:  # a line that is not an archived log
        raise ColdReadError(f"archive part {key} is not valid JSON Lines: {exc}") from exc


def part_blocks(part: ArchivePart) -> Iterable[PartIndex]:
    """The parsed blocks of a ledger part: from the cache, or pulled (and cached if it fits)."""
    cache_key = f"{part.key}:{part.sha256}"
    blocks = cache.get(cache_key)
    COLD_CACHE_LOOKUPS.inc("hit" if blocks is not None else "miss")
    if blocks is not None:
        return blocks
    if part.raw_bytes > settings.COLD_CACHE_MAX_BYTES // 2:
        return parse_part(part.key)  # too big to cache: stream it, one block in memory at a time
    blocks = list(parse_part(part.key))
    cache.put(cache_key, blocks)
    return blocks


def parts_for(query: LogQuery) -> list[ArchivePart]:
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


def fetch(query: LogQuery, after: tuple[datetime, str] | None, limit: int) -> list[dict]:
    """Up to `limit` archived log documents matching `query`, strictly after `after`, in query order.

    Parts are read in query order of their time bounds, and reading stops at the
    first part that cannot hold a row earlier (in query order) than the page's last.
    """
    descending = query.newest_first
    start, end = jsonl.format_timestamp(query.start), jsonl.format_timestamp(query.end)
    after_key = jsonl.format_timestamp(after[0]) + after[1] if after else None
    parts = sorted(
        parts_for(query),
        key=lambda part: part.last_timestamp if descending else part.first_timestamp,
        reverse=descending,
    )
    best = heapq.nlargest if descending else heapq.nsmallest
    page: list[tuple[str, str]] = []  # (sort key, line): no block stays referenced once its rows are out
    for part in parts:
        if len(page) == limit:
            bound, last = (
                jsonl.format_timestamp(part.last_timestamp if descending else part.first_timestamp),
                page[-1][0],
            )
            if (bound < last[:TS_WIDTH]) if descending else (bound > last[:TS_WIDTH]):
                break
        for block in part_blocks(part):
            low, high = block.span(start, end, after_key, descending)
            hits = islice(block.rows(low, high, query.keyword, descending), limit)
            # Keyed by (timestamp, id): a log that an older archiver wrote into two parts counts once,
            # so a page of `limit` rows is `limit` distinct logs and the planner's next-page test holds.
            rows = dict(chain(page, ((block.sort_key(row), block.line(row)) for row in hits)))
            page = best(limit, rows.items(), key=itemgetter(0))
    return [jsonl.decode(line) for _, line in page]


def matches(query: LogQuery, parts: list[ArchivePart]) -> Iterator[tuple[ArchivePart, str, str]]:
    """(part, timestamp, id) of every row of `parts` matching `query`, timestamps in the archive's format."""
    start, end = jsonl.format_timestamp(query.start), jsonl.format_timestamp(query.end)
    for part in parts:
        for block in part_blocks(part):
            for row in block.rows(*block.span(start, end, None, False), query.keyword):
                yield (part, *block.key(row))


def part_ids(part: ArchivePart) -> set[str]:
    """Every `_id` (hex) a ledger part holds, read through the part cache."""
    ids: set[str] = set()
    for block in part_blocks(part):
        keys = block.keys
        ids.update(keys[at + TS_WIDTH : at + KEY_WIDTH] for at in range(0, len(keys), KEY_WIDTH))
    return ids


def archived_ids(documents: Iterable[dict]) -> set[ObjectId]:
    """The `_id`s of `documents` (logs about to be stored) that ledger parts already hold.

    A log can only be in the parts of its own day, user and level: one ledger query
    finds them, and only those parts are read (through the part cache). Logs of days
    not archived yet, the usual case, cost that one query.
    """
    wanted: dict[tuple, set[str]] = {}
    for document in documents:
        group = (document["timestamp"].astimezone(UTC).date(), document["user_id"], document["level"])
        wanted.setdefault(group, set()).add(str(document["_id"]))
    if not wanted:
        return set()
    days, users, levels = (set(column) for column in zip(*wanted, strict=True))
    found: set[str] = set()
    for part in ArchivePart.objects.filter(day__in=days, user_id__in=users, level__in=levels):
        if ids := wanted.get((part.day, part.user_id, part.level)):
            found |= ids & part_ids(part)
    return {ObjectId(log_id) for log_id in found}
