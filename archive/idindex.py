"""The id index: which recorded part holds a log id, whatever time the id carries.

A log's id need not carry its log's time (demo ids carry the seeding time, a sender may
make ids long after the log), so the ledger's days cannot say where an id is. Each batch
of parts the archiver records (a day's run) gets one index object next to them,
`<prefix>/date=YYYY-MM-DD/ids-<stamp>-<token>.idx`: its ids sorted, one fixed-width
record each (RECORD: the 12 id bytes, then the part's ordinal among the batch's parts
sorted by key). The ledger keeps, per object, a few segments (IdIndexSegment): runs of
records whose id times lie within SPLIT_SECONDS of each other (at most MAX_SEGMENTS per
object), with their id range and every BLOCK_RECORDS-th id (the fences). Finding an id is
one SQL query for the segments whose range holds it, then one ranged read of one block
(16 KiB) per such segment, usually one: the parts of a day hold ids of their own hours.
Parts recorded before the index existed have none (`ArchivePart.id_index` is null):
`manage.py index_archived_ids` writes theirs.
"""

import hashlib
import heapq
import secrets
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from archive import reader, storage
from archive.models import ArchivePart, IdIndexSegment

RECORD = struct.Struct(">12sI")  # id, ordinal of its part among the batch's parts sorted by key
ID_BYTES = 12
HEX_ID = 2 * ID_BYTES
BLOCK_RECORDS = 1024
SPLIT_SECONDS = 3600
MAX_SEGMENTS = 64
FETCH_ROWS = 10_000


@dataclass
class IndexFile:
    """An index object written on local disk, with the ledger's segments (not saved: no index row yet)."""

    path: Path
    logs: int
    size: int
    sha256: str
    segments: list[IdIndexSegment]


def index_key(day: date) -> str:
    stamp = f"{timezone.now():%Y%m%dT%H%M%S}-{secrets.token_hex(6)}"
    return f"{settings.ARCHIVE_PREFIX}/date={day.isoformat()}/ids-{stamp}.idx"


def write_index(part_paths: list[str], path: Path) -> IndexFile:
    """The index of the gzip JSON Lines files `part_paths` (in ordinal order: the parts sorted by key) at `path`.

    DuckDB sorts the ids (spilling to disk past its memory limit), so memory stays flat however
    many logs the day holds; the widest gaps in id time (over SPLIT_SECONDS) split the segments.
    """
    ordinals = {name: ordinal for ordinal, name in enumerate(part_paths)}
    sql = f"SELECT _id, filename FROM {reader.read_json({'_id': 'VARCHAR'}, filename=True)} ORDER BY _id"
    cursor = reader.database.cursor().execute(sql, [part_paths])
    digest = hashlib.sha256()
    widest: list[tuple[int, int]] = []  # (gap in seconds, record number after it), a min-heap
    count, previous = 0, None
    with open(path, "wb") as file:
        while rows := cursor.fetchmany(FETCH_ROWS):
            chunk = bytearray()
            for log_id, name in rows:
                seconds = int(log_id[:8], 16)
                if previous is not None and seconds - previous > SPLIT_SECONDS:
                    heapq.heappush(widest, (seconds - previous, count))
                    if len(widest) >= MAX_SEGMENTS:
                        heapq.heappop(widest)
                previous = seconds
                chunk += RECORD.pack(bytes.fromhex(log_id), ordinals[name])
                count += 1
            digest.update(chunk)
            file.write(chunk)
    starts = [0, *sorted(record for _, record in widest)]
    return IndexFile(path, count, count * RECORD.size, digest.hexdigest(), _segments(path, starts, count))


def _segments(path: Path, starts: list[int], count: int) -> list[IdIndexSegment]:
    segments = []
    with open(path, "rb") as file:

        def id_at(record: int) -> str:
            file.seek(record * RECORD.size)
            return file.read(ID_BYTES).hex()

        for first, end in pairwise([*starts, count]):
            segments.append(
                IdIndexSegment(
                    min_id=id_at(first),
                    max_id=id_at(end - 1),
                    first_record=first,
                    count=end - first,
                    fences="".join(id_at(record) for record in range(first, end, BLOCK_RECORDS)),
                )
            )
    return segments


def locate(ids: Iterable[str]) -> dict[str, set[int]]:
    """hex id -> the pks of the indexed parts holding it, for the ids some index lists.

    One SQL query for the segments whose range meets the ids', one for their fences, one ranged
    read per (segment, block) holding a wanted id, one query per index object hit for its parts.
    Raises storage.StorageError (reader.ColdReadError) when an index object cannot be read.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    segments = list(
        IdIndexSegment.objects.filter(min_id__lte=wanted[-1], max_id__gte=wanted[0])
        .select_related("index")
        .defer("fences")
    )
    inside = {
        segment.pk: wanted[bisect_left(wanted, segment.min_id) : bisect_right(wanted, segment.max_id)]
        for segment in segments
    }
    fences = dict(
        IdIndexSegment.objects.filter(pk__in=[pk for pk, held in inside.items() if held]).values_list("pk", "fences")
    )
    ordinals: dict[int, dict[str, set[int]]] = {}  # index pk -> id -> ordinals of its parts
    for segment in segments:
        if not inside[segment.pk]:
            continue
        text = fences[segment.pk]
        fence_ids = [text[at : at + HEX_ID] for at in range(0, len(text), HEX_ID)]
        blocks: dict[int, list[str]] = {}
        for log_id in inside[segment.pk]:
            blocks.setdefault(bisect_right(fence_ids, log_id) - 1, []).append(log_id)
        for block, block_ids in blocks.items():
            found = _search_block(segment, block, block_ids)
            for log_id, ordinal in found:
                ordinals.setdefault(segment.index_id, {}).setdefault(log_id, set()).add(ordinal)
    located: dict[str, set[int]] = {}
    for index_pk, by_id in ordinals.items():
        part_pks = list(ArchivePart.objects.filter(id_index_id=index_pk).order_by("key").values_list("pk", flat=True))
        for log_id, found_ordinals in by_id.items():
            located.setdefault(log_id, set()).update(part_pks[ordinal] for ordinal in found_ordinals)
    return located


def _search_block(segment: IdIndexSegment, block: int, ids: list[str]) -> list[tuple[str, int]]:
    """(id, part ordinal) of `ids` found in one block of a segment, read with one ranged GET."""
    first = segment.first_record + block * BLOCK_RECORDS
    records = min(BLOCK_RECORDS, segment.count - block * BLOCK_RECORDS)
    data = storage.read_range(segment.index.key, first * RECORD.size, (first + records) * RECORD.size)
    keys = [data[at : at + ID_BYTES] for at in range(0, len(data), RECORD.size)]
    found = []
    for log_id in ids:
        raw = bytes.fromhex(log_id)
        at = bisect_left(keys, raw)
        while at < len(keys) and keys[at] == raw:
            found.append((log_id, RECORD.unpack_from(data, at * RECORD.size)[1]))
            at += 1
    return found
