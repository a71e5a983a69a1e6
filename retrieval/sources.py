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
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol

import pymongo
from bson import ObjectId
from django.conf import settings
from django.utils.module_loading import import_string
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from retrieval.models import LogEntry
from retrieval.query import BUCKET_ORIGIN, LogQuery, LogRow, Position

# Log counts of a histogram: (bucket start, level) -> logs.
Volume = Counter[tuple[datetime, str]]

ROW_FIELDS = {"timestamp": 1, "user_id": 1, "level": 1, "message": 1, "logger": 1, "context": 1}
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


class HotSource:
    """Recent logs in MongoDB, read with pymongo (the ORM adds cost on the hot path)."""

    name = "hot"

    def __init__(self) -> None:
        # None until the server has been asked whether it can bucket dates itself.
        self.server_buckets: bool | None = None

    def fetch(self, query: LogQuery, after: Position | None, limit: int) -> list[LogRow]:
        cursor = (
            LogEntry.collection()
            .find(query.mongo_filter(after), ROW_FIELDS)
            .sort(query.mongo_sort())
            .limit(limit)
            .batch_size(limit)
        )
        with answered_in_time():
            return [self.row(document) for document in cursor]

    def held_ids(self, documents: list[dict[str, Any]]) -> set[ObjectId]:
        # Nothing to ask: MongoDB itself refuses a second insert of an `_id` (duplicate key).
        return set()

    @staticmethod
    def row(document: dict[str, Any]) -> LogRow:
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
