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
from typing import Any, Protocol, runtime_checkable

import pymongo
from bson import ObjectId
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from pymongo.errors import ConnectionFailure, PyMongoError

from logsite.mongodb.ferretdb import server_is_ferretdb
from retrieval import buckets, hotstore
from retrieval.models import LogEntry
from retrieval.query import LogQuery, LogRow, Position

# Log counts of a histogram: (bucket start, level) -> logs.
Volume = Counter[tuple[datetime, str]]

ROW_FIELDS = {"timestamp": 1, "user_id": 1, "level": 1, "message": 1, "logger": 1, "context": 1, "metrics": 1}
MILLISECOND = timedelta(milliseconds=1)
ONE_MINUTE = timedelta(minutes=1)
ONE_MICROSECOND = timedelta(microseconds=1)


class SourceUnavailable(Exception):
    """The source's storage did not answer; the message is shown to the user."""


class PartialVolume(SourceUnavailable):
    """A count stopped before its end (the search deadline): `counts` is what was counted, a lower bound."""

    def __init__(self, message: str, counts: "Volume"):
        super().__init__(message)
        self.counts = counts


@runtime_checkable
class LogSource(Protocol):
    """One storage the planner reads. Each method raises `SourceUnavailable` when its storage cannot answer."""

    name: str  # "hot", "cold": the key of the source in a page's `sources`

    def fetch(self, query: LogQuery, after: Position | None, limit: int) -> list[LogRow]:
        """At most `limit` rows strictly after `after` in the query's order, sorted, each id at most once."""
        ...

    def volume(self, query: LogQuery) -> Volume:
        """Log counts per (bucket start, level) over the query, leaving out logs an earlier source counts."""
        ...

    def id_holders(self, documents: list[dict[str, Any]]) -> dict[ObjectId, set[int]]:
        """Which of these logs' ids (about to be stored) it holds already, each with the user_ids of the
        logs holding it: ingest stores one copy per id, and tells only their owners that it exists."""
        ...


def log_sources() -> list[LogSource]:
    """The sources of `LOG_SOURCES`, in the planner's reading order."""
    return _instantiate(tuple(settings.LOG_SOURCES))


@cache
def _instantiate(paths: tuple[str, ...]) -> list[LogSource]:
    # Once per process and setting value: a source may keep what it learnt of its server.
    sources = [import_string(path)() for path in paths]
    for path, source in zip(paths, sources, strict=True):
        if not isinstance(source, LogSource):
            raise ImproperlyConfigured(
                f"LOG_SOURCES: {path} lacks what a LogSource has (name, fetch, volume, id_holders)"
            )
    return sources


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
        metrics=document.get("metrics"),
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
    Future hours do not count as thin (nothing was logged there yet).

    The newest RECENT before now is read in one-second tick buckets while they are dense (at
    a high rate the current hour holds millions of logs, and the live tail and the landing
    page start there); once JUDGE_TICKS of them promise fewer rows over RECENT than the page
    needs, the rate is low and the current hour small: the walk goes on in hours. Past
    now + AHEAD_MARGIN only logs stamped `ahead` can be (retrieval.buckets), one equality for
    the rest of the range.
    """

    JUDGE_AFTER = buckets.ONE_HOUR  # of past time read in hour buckets of a day (the first may be a sliver)
    WIDEN_WITHIN = 3 * buckets.ONE_HOUR
    RECENT = timedelta(minutes=2)
    JUDGE_TICKS = timedelta(seconds=5)  # of past time read in ticks: a sparse search costs that many round trips
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
        self.recent_from, self.ahead_from = self.now - self.RECENT, self.now + buckets.AHEAD_MARGIN
        self.widened = False
        self.ticks_thin = False
        self.tick_rows, self.tick_past = 0, timedelta(0)  # rows read in ticks; past time they spanned
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
            past = max(timedelta(0), min(last, self.now) - first)
            if field == buckets.HOUR:
                self.day_rows += len(read)
                self.day_past += past
            elif field == buckets.TICK:
                self.tick_rows += len(read)
                self.tick_past += past
            if self.query.newest_first:
                self.high = first
            else:
                self.low = last
        return found

    def next_bucket(self, needed: int) -> tuple[str, int, datetime, datetime]:
        """The next bucket in the query's order: (field, value, start, end)."""
        moment = self.high - self.TINY if self.query.newest_first else self.low
        if moment >= self.ahead_from:
            return buckets.AHEAD, 1, self.ahead_from, self.high
        if not self.ticks_thin and self.tick_past >= self.JUDGE_TICKS:
            self.ticks_thin = self.tick_rows * (self.RECENT / self.tick_past) < needed
        if moment >= self.recent_from and not self.ticks_thin:
            tick = buckets.tick_of(moment)
            return buckets.TICK, tick, buckets.tick_start(tick), buckets.tick_start(tick + 1)
        field, value, start, end = self.past_bucket(moment, needed)
        if self.ticks_thin:
            return field, value, start, end
        # The recent part is read in ticks, not by the current hour's (or day's) equality.
        return field, value, start, min(end, self.recent_from)

    def past_bucket(self, moment: datetime, needed: int) -> tuple[str, int, datetime, datetime]:
        """The hour (or, widened, day) bucket of a moment before the recent ticks."""
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
        if self.widened:
            return buckets.DAY, day, day_start, day_end
        hour = buckets.hour_of(moment)
        return buckets.HOUR, hour, buckets.hour_start(hour), buckets.hour_start(hour + 1)


class HotSource:
    """Recent logs in MongoDB, read with pymongo (the ORM adds cost on the hot path)."""

    name = "hot"

    def __init__(self) -> None:
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

    def id_holders(self, documents: list[dict[str, Any]]) -> dict[ObjectId, set[int]]:
        # Nothing to ask: MongoDB itself refuses a second insert of an `_id` (duplicate key).
        return {}

    row = staticmethod(hot_row)

    def volume(self, query: LogQuery) -> Volume:
        """Logs per (bucket, level), hour by hour: from the counters (`retrieval.hotstore`) where they are exact,
        else from the logs themselves by `hour` equality (the one filter FerretDB pushes down).

        Read from the logs: every hour when the query has a term (keyword, q, one id); without
        one, only the hours the counters are not exact for (`uncounted_days`, hours with a write
        in doubt) and the part of a minute at either end of a range that does not start or end
        on a whole minute. Within SEARCH_TIMEOUT_SECONDS, newest hour first: past it,
        PartialVolume carries what was counted.
        """
        first, last = query.read_range or (query.start, query.end)
        if first >= last:
            return Counter()
        hours = range(buckets.hour_of(first), buckets.hour_of(last - ONE_MICROSECOND) + 1)
        if query.keyword or query.q or query.log_id is not None:
            return self.count_logs(query, [(hour, query) for hour in reversed(hours)])
        with answered_in_time():
            counts, unread = self.counted_volume(query, first, last, hours)
        try:
            counts.update(self.count_logs(query, unread))
        except PartialVolume as exc:
            exc.counts.update(counts)
            raise
        return counts

    def uncounted_days(self, query: LogQuery) -> set[int]:
        """Days (since the epoch) of the query whose hot logs the counters may not match; here none.

        A source whose storage takes logs out of MongoDB (the archive's HotSource) names its days.
        """
        return set()

    def counted_volume(
        self, query: LogQuery, first: datetime, last: datetime, hours: range
    ) -> tuple[Volume, list[tuple[int, LogQuery]]]:
        """The counters' share of [first, last); and the (hour, query) pieces to count from the logs."""
        uncounted = self.uncounted_days(query)
        days = [day for day in range(hours[0] // 24, hours[-1] // 24 + 1) if day not in uncounted]
        states = hotstore.hour_states(days)
        per_user = hotstore.user_counts(days, query.user_ids) if query.user_ids or query.granted_users else None
        counts: Volume = Counter()
        unread: list[tuple[int, LogQuery]] = []
        cut: set[tuple[int, datetime]] = set()  # (hour, minute start) of minutes the range cuts, holding logs
        for hour in reversed(hours):
            state = states.get(hour)
            if hour // 24 in uncounted or (state is not None and not state.settled):
                unread.append((hour, query))
                continue
            if state is None:
                continue  # no log was ever stored in this hour
            minutes = per_user.get(hour, Counter()) if per_user is not None else state.counts
            for (level, minute), logs in minutes.items():
                at = buckets.hour_start(hour) + minute * ONE_MINUTE
                if level not in query.levels or not (first < at + ONE_MINUTE and at < last):
                    continue
                if first <= at and at + ONE_MINUTE <= last:
                    counts[(query.bucket_of(at), level)] += logs
                else:
                    cut.add((hour, at))
        # The logs of a cut minute on the range's side of the cut are read.
        unread += [
            (hour, replace(query, read_range=(max(first, at), min(last, at + ONE_MINUTE)))) for hour, at in sorted(cut)
        ]
        return counts, unread

    def count_logs(self, query: LogQuery, pieces: list[tuple[int, LogQuery]]) -> Volume:
        """Logs per (bucket, level) of each piece, read from its hour (`hour` equality first: FerretDB pushes it down)."""
        counts: Volume = Counter()
        try:
            with answered_in_time():
                for hour, piece in pieces:
                    found = LogEntry.collection().find(
                        {buckets.HOUR: hour, **piece.mongo_filter()},
                        {"_id": 0, "timestamp": 1, "level": 1},
                        batch_size=10_000,
                    )
                    for document in found:
                        counts[(query.bucket_of(utc(document["timestamp"])), document["level"])] += 1
        except SourceUnavailable as exc:
            raise PartialVolume(str(exc), counts) from exc
        return counts
