"""Histogram counts of archived logs from the ledger alone: the per-minute counts recorded with each part.

The archiver records, for every part, how many of its logs fall in each minute of
its day (`ArchivePart.minute_counts`). Histogram buckets are whole minutes wide
(`retrieval.query.BUCKET_WIDTHS`) and start at multiples of their width (from
`BUCKET_ORIGIN`, a midnight), so every minute lies in one bucket. A minute is counted from the
ledger only if all of it that the part covers (between its first and last
timestamps) lies inside [start, end) and inside one bucket; a part with any other
minute holding logs, or with no counts recorded, is left to be read: the counts
are exact either way.
"""

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta

from archive.models import ArchivePart
from retrieval.buckets import EPOCH
from retrieval.query import BUCKET_ORIGIN, LogQuery
from retrieval.sources import Volume

MINUTE_US = 60_000_000


def minute_of_day(timestamp: str) -> int:
    """The minute of the day of an archive timestamp (2023-08-27T12:30:15.123000Z -> 750)."""
    return int(timestamp[11:13]) * 60 + int(timestamp[14:16])


def encode(minutes: Counter[int]) -> list[list[int]]:
    return [[minute, minutes[minute]] for minute in sorted(minutes) if minutes[minute]]


def _us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


class _Buckets:
    """The query's range and buckets in integer microseconds."""

    def __init__(self, query: LogQuery):
        self.query = query
        self.start, self.end = _us(query.start), _us(query.end)
        self.width = query.bucket_width // timedelta(microseconds=1)
        self.origin = _us(BUCKET_ORIGIN)

    def of(self, low: int, high: int) -> int | None:
        """The bucket holding all of [low, high); -1 when none of it is in range; None when it is split."""
        if high <= self.start or low >= self.end:
            return -1
        if low < self.start or high > self.end:
            return None
        bucket = (low - self.origin) // self.width
        return bucket if bucket == (high - 1 - self.origin) // self.width else None

    def start_of(self, bucket: int) -> datetime:
        return BUCKET_ORIGIN + bucket * self.query.bucket_width


def ledger_volume(query: LogQuery, parts: Iterable[ArchivePart]) -> tuple[Volume, list[ArchivePart]]:
    """Logs of `parts` per (bucket start, level) from the ledger; and the parts it cannot count exactly."""
    buckets = _Buckets(query)
    counts: Volume = Counter()
    by_minute = []
    for part in parts:
        # The part as a whole first: a day-wide bucket (a month's histogram) needs no minutes.
        bucket = buckets.of(_us(part.first_timestamp), _us(part.last_timestamp) + 1)
        if bucket is None:
            by_minute.append(part)
        elif bucket >= 0:
            counts[(buckets.start_of(bucket), part.level)] += part.count
    minute_counts = dict(
        ArchivePart.objects.filter(pk__in=[part.pk for part in by_minute]).values_list("pk", "minute_counts")
    )
    unread = []
    for part in by_minute:
        part_counts = _from_minutes(buckets, part, minute_counts.get(part.pk))
        if part_counts is None:
            unread.append(part)
        else:
            counts.update(part_counts)
    return counts, unread


def _from_minutes(buckets: _Buckets, part: ArchivePart, minutes: list[list[int]] | None) -> Volume | None:
    if minutes is None:
        return None
    day = _us(datetime.combine(part.day, time.min, tzinfo=UTC))
    first, last = _us(part.first_timestamp), _us(part.last_timestamp) + 1
    counts: Volume = Counter()
    for minute, logs in minutes:
        low = max(day + minute * MINUTE_US, first)
        high = min(day + (minute + 1) * MINUTE_US, last)
        bucket = buckets.of(low, high)
        if bucket is None:
            return None
        if bucket >= 0:
            counts[(buckets.start_of(bucket), part.level)] += logs
    return counts
