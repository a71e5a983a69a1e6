"""Where logs are read from. The planner asks each source the same `LogQuery`.

A source is anything that fits `LogSource`. The sources are named in the setting
`LOG_SOURCES` (dotted paths of classes, instantiated once per process), in the order
the planner reads them, which is also the order of preference when two sources hold
the same log. Hot storage (`HotSource`, here) comes first; apps add theirs there
(the archive's `archive.source.ColdSource`), so this package imports none of them.
"""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Protocol

import pymongo
from bson import ObjectId
from django.conf import settings
from django.utils.module_loading import import_string
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from logsite.mongodb.ferretdb import server_is_ferretdb
from retrieval import buckets
from retrieval.models import LogEntry
from retrieval.query import BUCKET_ORIGIN, LogQuery, LogRow, Position

# Log counts of a histogram: (bucket start, level) -> logs.
Volume = Counter[tuple[datetime, str]]

ROW_FIELDS = {"timestamp": 1, "user_id": 1, "level": 1, "message": 1, "logger": 1, "context": 1}
MILLISECOND = timedelta(milliseconds=1)
NOT_IMPLEMENTED = 238  # MongoDB error code FerretDB answers for operators it lacks


class SourceUnavailable(Exception):
    """The source's storage did not answer; the message is shown to the user."""


class LogSource(Protocol):
    """One storage the planner reads. Each method raises `SourceUnavailable` when its storage cannot answer."""

    name: str  # "hot", "cold": the key of the source in a page's `sources`

    def fetch(self, query: LogQuery, after: Position | None, limit: int) -> list[LogRow]:
        """At most `limit` rows strictly after `after` in the query's order, sorted, each id at most once."""
        ...

    def volume(self, query: LogQuery) -> Volume:
        """Log counts per (bucket start, level) over the query, leaving out logs an earlier source counts."""
        ...

    def held_ids(self, documents: list[dict[str, Any]]) -> set[ObjectId]:
        """Which of these logs (about to be stored) it holds already: ingest stores one copy per id."""
        ...


def log_sources() -> list[LogSource]:
    """The sources of `LOG_SOURCES`, in the planner's reading order."""
    return _instantiate(tuple(settings.LOG_SOURCES))


@cache
def _instantiate(paths: tuple[str, ...]) -> list[LogSource]:
    # Once per process and setting value: a source may keep what it learnt of its server.
    return [import_string(path)() for path in paths]


@contextmanager
def answered_in_time() -> Iterator[None]:
    """MongoDB's part of a search within SEARCH_TIMEOUT_SECONDS, or SourceUnavailable.

    pymongo's deadline sends maxTimeMS with each command (the server stops the query)
    and bounds the wait for the answer, so a full scan or a hung server cannot hold a
    page (and the web thread) for longer: the page comes back partial instead.
    """
    seconds = settings.SEARCH_TIMEOUT_SECONDS
    try:
        with pymongo.timeout(seconds):
            yield
    except PyMongoError as exc:
        if exc.timeout:
            raise SourceUnavailable(
                f"MongoDB did not answer within {seconds:g} s; narrow the search (a user, a level, a shorter "
                "range) or try again"
            ) from exc
        if isinstance(exc, ConnectionFailure):
            raise SourceUnavailable(f"MongoDB did not answer: {exc}") from exc
        raise


def utc(moment: datetime) -> datetime:
    # pymongo hands back naive datetimes that are UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def hot_row(document: dict[str, Any]) -> LogRow:
    return LogRow(
        id=str(document["_id"]),
        timestamp=utc(document["timestamp"]),
        user_id=document["user_id"],
        level=document["level"],
        message=document["message"],
        logger=document.get("logger") or "",
        context=document.get("context"),
        source="hot",
    )


def find_rows(mongo_filter: dict, query: LogQuery, limit: int) -> list[LogRow]:
    """The first `limit` logs matching `mongo_filter`, in the query's order: one `find`."""
    cursor = (
        LogEntry.collection().find(mongo_filter, ROW_FIELDS).sort(query.mongo_sort()).limit(limit).batch_size(limit)
    )
    return [hot_row(document) for document in cursor]


class BucketWalk:
    """One page read bucket by bucket, from the page's edge in the query's order (HOT_BUCKET_WALK).

    FerretDB on PostgreSQL hands PostgreSQL only a filter's top-level equalities (served by
    the GIN index on user_id, level, hour, day); it decodes every row they match before it
    applies the time range, sorts and limits. An equality on a log's `hour` (or `day`)
    bounds that work to one bucket, and the walk stops when the page is full.

    Widening (measured in docs/benchmarks.md, "Hot search"): hour buckets first; once the
    hours read in a day (at least JUDGE_AFTER of past time) promise fewer rows over the
    next WIDEN_WITHIN than the page still needs, the rest of the walk is day buckets:
    each query costs a round trip whatever it finds, and a thin day decodes few rows.
    Future hours do not count as thin (nothing was logged there yet). A day wholly in
    the future (the live tail reads to now + 1 day) is one day bucket: future logs are rare.
    """

    JUDGE_AFTER = buckets.ONE_HOUR  # of past time read in hour buckets of a day (the first may be a sliver)
    WIDEN_WITHIN = 3 * buckets.ONE_HOUR
    TINY = timedelta(microseconds=1)

    def __init__(self, query: LogQuery, after: Position | None, limit: int) -> None:
        self.query, self.after, self.limit = query, after, limit
        self.low, self.high = query.read_range or (query.start, query.end)  # still unread: [low, high)
        if after is not None:
            if query.newest_first:
                # The cursor's own time may hold rows; MongoDB keeps milliseconds (a bound's microseconds are cut).
                self.high = min(self.high, after[0] + MILLISECOND)
            else:
                self.low = max(self.low, after[0])
        self.now = datetime.now(UTC)
        self.widened = False
        self.day = -1  # the day the counts below are about
        self.day_rows, self.day_past = 0, timedelta(0)  # rows read in that day's hour buckets; past time they spanned

    def rows(self) -> list[LogRow]:
        found: list[LogRow] = []
        while len(found) < self.limit and self.low < self.high:
            field, value, start, end = self.next_bucket(self.limit - len(found))
            first, last = max(self.low, start), min(self.high, end)
            bucket_query = replace(self.query, read_range=(first, last))
            read = find_rows(
                {field: value, **bucket_query.mongo_filter(self.after)}, self.query, self.limit - len(found)
            )
            found += read
            if field == buckets.HOUR:
                self.day_rows += len(read)
                self.day_past += max(timedelta(0), min(last, self.now) - first)
            if self.query.newest_first:
                self.high = first
            else:
                self.low = last
        return found

    def next_bucket(self, needed: int) -> tuple[str, int, datetime, datetime]:
        """The next bucket in the query's order: (field, value, start, end)."""
        moment = self.high - self.TINY if self.query.newest_first else self.low
        day = buckets.day_of(moment)
        day_start, day_end = buckets.day_start(day), buckets.day_start(day + 1)
        if day != self.day:
            self.day, self.day_rows, self.day_past = day, 0, timedelta(0)
        if not self.widened and self.day_past >= self.JUDGE_AFTER:
            # Widen when, at the rate the day's hours gave, the next WIDEN_WITHIN would not fill the page:
            # a day bucket then decodes fewer rows than that many hour queries cost round trips.
            rest = min(self.high, day_end) - max(self.low, day_start)
            thin = self.day_rows * (self.WIDEN_WITHIN / self.day_past) < needed
            self.widened = thin and rest > self.WIDEN_WITHIN
        if self.widened or day_start > self.now:
            return buckets.DAY, day, day_start, day_end
        hour = buckets.hour_of(moment)
        return buckets.HOUR, hour, buckets.hour_start(hour), buckets.hour_start(hour + 1)


class HotSource:
    """Recent logs in MongoDB, read with pymongo (the ORM adds cost on the hot path)."""

    name = "hot"

    def __init__(self) -> None:
        # None until the server has been asked whether it can bucket dates itself.
        self.server_buckets: bool | None = None
        # None until asked: is the server FerretDB (HOT_BUCKET_WALK=auto walks buckets there)?
        self.on_ferretdb: bool | None = None

    def fetch(self, query: LogQuery, after: Position | None, limit: int) -> list[LogRow]:
        with answered_in_time():
            if query.log_id is None and self.walks_buckets():
                return BucketWalk(query, after, limit).rows()
            return find_rows(query.mongo_filter(after), query, limit)

    def walks_buckets(self) -> bool:
        if settings.HOT_BUCKET_WALK != "auto":
            return settings.HOT_BUCKET_WALK == "on"
        if self.on_ferretdb is None:
            self.on_ferretdb = server_is_ferretdb(LogEntry.collection())
        return self.on_ferretdb

    def held_ids(self, documents: list[dict[str, Any]]) -> set[ObjectId]:
        # Nothing to ask: MongoDB itself refuses a second insert of an `_id` (duplicate key).
        return set()

    row = staticmethod(hot_row)

    def volume(self, query: LogQuery) -> Volume:
        with answered_in_time():
            if self.server_buckets is not False:
                try:
                    counts = self._volume_on_server(query)
                    self.server_buckets = True
                    return counts
                except OperationFailure as exc:
                    if exc.code != NOT_IMPLEMENTED:
                        raise
                    self.server_buckets = False
            return self._volume_in_python(query)

    def _volume_on_server(self, query: LogQuery) -> Volume:
        """MongoDB: bucket with date arithmetic in $group (no $dateTrunc, so 4.x works too)."""
        width_ms = int(query.bucket_width.total_seconds() * 1000)
        offset = {"$subtract": ["$timestamp", BUCKET_ORIGIN]}
        bucket = {"$subtract": ["$timestamp", {"$mod": [offset, width_ms]}]}
        pipeline = [
            {"$match": query.mongo_filter()},
            {"$group": {"_id": {"bucket": bucket, "level": "$level"}, "n": {"$sum": 1}}},
        ]
        return Counter(
            {(utc(g["_id"]["bucket"]), g["_id"]["level"]): g["n"] for g in LogEntry.collection().aggregate(pipeline)}
        )

    def _volume_in_python(self, query: LogQuery) -> Volume:
        """FerretDB 1.24 has no date arithmetic: project two fields and bucket here."""
        documents = LogEntry.collection().find(
            query.mongo_filter(), {"_id": 0, "timestamp": 1, "level": 1}, batch_size=10_000
        )
        return Counter((query.bucket_of(utc(d["timestamp"])), d["level"]) for d in documents)
