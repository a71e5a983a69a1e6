"""The cold reader: answer a query from the archive parts it needs, and only those, with DuckDB.

The ledger names the parts of the query's days, users and levels (one part holds
one day, user and level, so rows need no user or level filter). Their objects are
streamed into the on-disk part cache (`archive.cache`, sha256 checked) and DuckDB
reads the gzip JSON Lines files there with `read_json` and explicit columns and
types (no detection): time range, keyword, order by (timestamp, _id), limit.
Parts are read one day at a time, in the query's order, so a page that is full
stops before older (or newer) days are pulled at all.

Timestamps stay text: the archive's fixed-width format sorts as time does. The
keyword is matched as RE2 `(?i)` with every ASCII symbol escaped, so it is a
literal, compared by simple case folding: the meaning MongoDB's escaped `$regex`
gives it on the hot side (`retrieval.textfold` says more).
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, timedelta
from itertools import groupby
from typing import Any, cast

import duckdb
from bson import ObjectId
from django.conf import settings
from django.db.models import Q

from archive import cache, idindex, jsonl, storage
from archive.models import ArchivePart
from archive.storage import StorageError
from retrieval.buckets import EPOCH
from retrieval.compression import TruncatedGzip
from retrieval.query import BUCKET_ORIGIN, LogQuery, Position
from retrieval.querysyntax import Term
from retrieval.sources import Volume

# Decompressed bytes per block of `read_part` (rehydration).
BLOCK_BYTES = 16 << 20
ROW_COLUMNS = {
    "_id": "VARCHAR",
    "timestamp": "VARCHAR",
    "user_id": "BIGINT",
    "level": "VARCHAR",
    "message": "VARCHAR",
    "logger": "VARCHAR",
    "context": "JSON",
    "metrics": "JSON",
}
COUNT_COLUMNS = {name: ROW_COLUMNS[name] for name in ("_id", "timestamp", "level", "message")}
# What the query syntax's terms may name: every row column, and the metrics intake extracted.
TERM_COLUMNS = {**ROW_COLUMNS, "metrics": "JSON"}
ONE_MICROSECOND = timedelta(microseconds=1)


# A cold read's failure is the storage's one error (archive.storage): down, slow, missing or corrupt objects.
ColdReadError = StorageError


def read_part(key: str) -> Iterator[str]:
    """The decompressed text of a part, in blocks of whole lines of about BLOCK_BYTES."""
    try:
        for block in jsonl.gzip_line_blocks(storage.read_chunks(key), BLOCK_BYTES):
            yield block.decode()
    except TruncatedGzip as exc:
        raise ColdReadError(f"archive part {key} is truncated") from exc
    except (zlib.error, UnicodeDecodeError) as exc:
        raise ColdReadError(f"archive part {key}: {exc}") from exc


class _Database:
    """One DuckDB database per process, a cursor per thread: a DuckDB connection is not for
    several threads at once, and gunicorn serves requests on threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.local = threading.local()
        self.pid = 0
        self.connection: duckdb.DuckDBPyConnection | None = None

    def cursor(self) -> duckdb.DuckDBPyConnection:
        if self.pid != os.getpid():  # never use a database across fork
            with self.lock:
                if self.pid != os.getpid():
                    self.connection = duckdb.connect(":memory:")
                    self.connection.execute(f"SET threads = {int(settings.COLD_DUCKDB_THREADS)}")
                    self.connection.execute("SET memory_limit = ?", [settings.COLD_DUCKDB_MEMORY_LIMIT])
                    self.local = threading.local()
                    self.pid = os.getpid()
        cursor = getattr(self.local, "cursor", None)
        if cursor is None:
            cursor = self.local.cursor = cast(duckdb.DuckDBPyConnection, self.connection).cursor()
        return cursor


database = _Database()


def read_json(columns: dict[str, str], filename: bool = False) -> str:
    """The table expression of the cached files (the first parameter): their columns as given, nothing guessed;
    with `filename`, also the column `filename` (the file each row came from)."""
    spec = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
    return (
        "read_json(?, format = 'newline_delimited', compression = 'gzip', auto_detect = false, "
        f"hive_partitioning = false, filename = {str(filename).lower()}, columns = {{{spec}}})"
    )


def keyword_pattern(keyword: str) -> str:
    """RE2 for `keyword` as a literal, case-insensitive: every ASCII symbol escaped (RE2 reads `\\` + symbol as it)."""
    return "(?i)" + "".join(f"\\{char}" if char.isascii() and not char.isalnum() else char for char in keyword)


def _filters(query: LogQuery) -> tuple[str, list[Any]]:
    """The WHERE clause of the query's time range, keyword, id and query-syntax terms, and its parameters."""
    sql, params = (
        "timestamp >= ? AND timestamp < ?",
        [jsonl.format_timestamp(query.start), jsonl.format_timestamp(query.end)],
    )
    if query.log_id is not None:
        # One log by id (planner.find_log): the parts are those holding the id, whatever the log's time.
        sql, params = "true", []
    if query.keyword:
        sql += " AND regexp_matches(message, ?)"
        params.append(keyword_pattern(query.keyword))
    if query.log_id is not None:
        sql += " AND _id = ?"
        params.append(query.log_id)
    for term in query.terms:
        clause, values = term_sql(term)
        # COALESCE: a missing logger or context key is false, so that "-term" holds for it (MongoDB's $nor).
        sql += f" AND {'NOT ' if term.negated else ''}COALESCE({clause}, false)"
        params += values
    return sql, params


# A JSON value {e} equal to the text (a JSON string) or, when given, comparing {op} with the number (any JSON number).
JSON_TEXT = "(json_type({e}) = 'VARCHAR' AND json_extract_string({e}, '$') = ?)"
JSON_NUMBER = "(json_type({e}) IN ('BIGINT', 'UBIGINT', 'DOUBLE') AND TRY_CAST({e} AS DOUBLE) {op} ?)"
# A line's model (querysyntax.model_of): its context's `model` when that is a non-empty text, else its logger.
MODEL_SQL = (
    "(CASE WHEN json_type(context, '$.model') = 'VARCHAR' AND json_extract_string(context, '$.model') <> '' "
    "THEN json_extract_string(context, '$.model') ELSE COALESCE(logger, '') END) = ?"
)
# The query syntax's comparisons (querysyntax.COMPARISONS) in SQL: only these reach the statement.
SQL_COMPARISONS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "=": "=", "!=": "<>"}


def term_sql(term: Term) -> tuple[str, list[Any]]:
    """One query-syntax term, not negated, as SQL and its parameters: the meaning of `LogQuery.term_filter`.

    A context key is a JSON path of quoted keys (the key's characters are checked by the
    parser); as in MongoDB, a value that is a list matches when one of its items does.
    """
    if term.field == "message":
        return "regexp_matches(message, ?)", [keyword_pattern(term.value)]
    if term.op:
        # The name's characters are checked by the parser (no quote); a line without the metric is NULL: false.
        path = f'$."{term.metric}"'
        sql = JSON_NUMBER.format(e="json_extract(metrics, ?)", op=SQL_COMPARISONS[term.op])
        return sql, [path, path, term.threshold]
    if term.field == "model":  # querysyntax.model_of
        return MODEL_SQL, [term.value]
    if not term.context_keys:  # logger, level, user_id: plain columns
        return f"{term.field} = ?", term.typed_values()
    path = "$" + "".join(f'."{key}"' for key in term.context_keys)
    number = term.number

    def equal(e: str, e_params: list[Any]) -> tuple[str, list[Any]]:
        # Each template names its value {e} twice, then takes the value compared.
        sql, params = JSON_TEXT.format(e=e), [*e_params, *e_params, term.value]
        if number is not None:
            as_number = JSON_NUMBER.format(e=e, op="=")
            sql, params = f"({sql} OR {as_number})", [*params, *e_params, *e_params, float(number)]
        return sql, params

    scalar, scalar_params = equal("json_extract(context, ?)", [path])
    item, item_params = equal("x", [])
    sql = (
        f"({scalar} OR (json_type(context, ?) = 'ARRAY' AND "
        f"len(list_filter(json_extract(context, ?), lambda x: {item})) > 0))"
    )
    return sql, [*scalar_params, path, f"{path}[*]", *item_params]


@contextmanager
def _reading(parts: Sequence[ArchivePart]) -> Iterator[list[str]]:
    """The parts' cached files; any failure to get or read them is a ColdReadError."""
    try:
        with cache.held(parts, storage.chunk_reader) as paths:
            try:
                yield paths
            except duckdb.Error as exc:
                message = str(exc)
                for part, path in zip(parts, paths, strict=True):
                    message = message.replace(path, part.key)  # name the object, not the cached copy
                raise ColdReadError(f"archive parts could not be read: {message}") from exc
    except (cache.CorruptPart, OSError) as exc:  # a wrong object, or the cache's disk
        raise ColdReadError(str(exc)) from exc


def _days(parts: Iterable[ArchivePart], descending: bool) -> Iterator[list[ArchivePart]]:
    """The parts grouped by day, days in the query's order."""
    ordered = sorted(parts, key=lambda part: part.day, reverse=descending)
    for _, day in groupby(ordered, key=lambda part: part.day):
        yield list(day)


def parts_for(query: LogQuery) -> list[ArchivePart]:
    """The ledger's parts that may hold rows of `query`: its days, users and levels.

    For one log by id (`log_id`): the parts the id index says hold it, and the parts without an
    index (recorded before it existed) of the query's time range (the id's own time).
    """
    in_range = Q(
        day__gte=query.start.astimezone(UTC).date(),
        day__lte=query.end.astimezone(UTC).date(),
        first_timestamp__lt=query.end,
        last_timestamp__gte=query.start,
    )
    if query.log_id is not None:
        holding = idindex.locate([query.log_id]).get(query.log_id, set())
        in_range = Q(pk__in=holding) | (in_range & Q(id_index__isnull=True))
    parts = ArchivePart.objects.defer("minute_counts").filter(in_range)
    if query.user_ids or query.granted_users:
        parts = parts.filter(user_id__in=query.user_ids)
    if query.levels:
        parts = parts.filter(level__in=query.levels)
    return list(parts)


def fetch(query: LogQuery, after: Position | None, limit: int) -> list[dict]:
    """Up to `limit` archived log documents matching `query`, strictly after `after`, in query order.

    Days are read in the query's order; reading stops at the first day that cannot
    hold a row earlier (in query order) than the page's last.
    """
    descending = query.newest_first
    page: list[tuple] = []  # rows as selected (ROW_COLUMNS), in query order
    for parts in _days(parts_for(query), descending):
        if len(page) == limit:
            bound = max(p.last_timestamp for p in parts) if descending else min(p.first_timestamp for p in parts)
            stamp, last = jsonl.format_timestamp(bound), page[-1][1]
            if (stamp < last) if descending else (stamp > last):
                break
        with _reading(parts) as paths:
            page = _best(page + _select(paths, query, after, limit), limit, descending)
    return [_document(row) for row in page]


def _select(paths: list[str], query: LogQuery, after: Position | None, limit: int) -> list[tuple]:
    where, params = _filters(query)
    if after is not None:
        where += f" AND (timestamp {'<' if query.newest_first else '>'} ? OR (timestamp = ? AND _id {'<' if query.newest_first else '>'} ?))"
        stamp = jsonl.format_timestamp(after[0])
        params += [stamp, stamp, after[1]]
    order = "DESC" if query.newest_first else "ASC"
    wanted = limit
    while True:
        # LIMIT as a literal: with a parameter DuckDB sorts every match instead of keeping the top rows.
        sql = (
            f"SELECT {', '.join(ROW_COLUMNS)} FROM {read_json(TERM_COLUMNS if query.terms else ROW_COLUMNS)} "
            f"WHERE {where} "
            f"ORDER BY timestamp {order}, _id {order} LIMIT {int(wanted)}"
        )
        rows = database.cursor().execute(sql, [paths, *params]).fetchall()
        # A log an older archiver wrote into two parts is one row: a page of `limit` rows is `limit` logs.
        distinct = list({(row[1], row[0]): row for row in rows}.values())
        if len(distinct) >= limit or len(rows) < wanted:
            return distinct
        wanted *= 2


def _best(rows: list[tuple], limit: int, descending: bool) -> list[tuple]:
    distinct = {(row[1], row[0]): row for row in rows}
    return [distinct[key] for key in sorted(distinct, reverse=descending)[:limit]]


def _document(row: tuple) -> dict:
    """A selected row -> a log document as MongoDB stores it (ObjectId `_id`, aware UTC `timestamp`)."""
    log_id, stamp, user_id, level, message, logger, context, values = row
    document = {
        "_id": ObjectId(log_id),
        "timestamp": jsonl.parse_timestamp(stamp),
        "user_id": user_id,
        "level": level,
        "message": message,
    }
    if logger is not None:
        document["logger"] = logger
    if context is not None:
        document["context"] = json.loads(context)
    if values is not None:
        document["metrics"] = json.loads(values)
    return document


def volume(query: LogQuery, parts: list[ArchivePart], leave_out: set[str]) -> Volume:
    """Rows of `parts` matching `query`, per (bucket start, level), but for the ids in `leave_out`."""
    where, params = _filters(query)
    if leave_out:
        where += " AND _id NOT IN (SELECT unnest(?::VARCHAR[]))"
        params.append(sorted(leave_out))
    start_us, width_us = (BUCKET_ORIGIN - EPOCH) // ONE_MICROSECOND, query.bucket_width // ONE_MICROSECOND
    sql = (
        f"SELECT (epoch_us(timestamp::TIMESTAMP) - ?) // ? AS bucket, level, count(*) "
        f"FROM {read_json(TERM_COLUMNS if query.terms else COUNT_COLUMNS)} WHERE {where} GROUP BY ALL"
    )
    counts: Volume = Counter()
    for day in _days(parts, descending=False):
        with _reading(day) as paths:
            for bucket, level, n in database.cursor().execute(sql, [start_us, width_us, paths, *params]).fetchall():
                counts[(BUCKET_ORIGIN + bucket * query.bucket_width, level)] += n
    return counts


def rows(parts: Sequence[ArchivePart], columns: dict[str, str], batch: int = 10_000) -> Iterator[tuple]:
    """Every line of `parts` as a tuple of `columns` (a key a line lacks is NULL), a day's parts at a time,
    fetched `batch` rows at a time (a whole day need not fit in memory). It holds the thread's DuckDB cursor:
    run no other cold read until it is exhausted."""
    sql = f"SELECT {', '.join(columns)} FROM {read_json(columns)}"
    for day in _days(parts, descending=False):
        with _reading(day) as paths:
            cursor = database.cursor().execute(sql, [paths])
            while found := cursor.fetchmany(batch):
                yield from found


def part_ids(part: ArchivePart) -> set[str]:
    """Every `_id` (hex) a ledger part holds, read through the part cache."""
    with _reading([part]) as paths:
        rows = database.cursor().execute(f"SELECT _id FROM {read_json({'_id': 'VARCHAR'})}", [paths]).fetchall()
    return {log_id for (log_id,) in rows}


def archived_id_holders(documents: Iterable[dict]) -> dict[ObjectId, set[int]]:
    """The `_id`s of `documents` (logs about to be stored) that ledger parts already hold -> those parts' user_ids.

    The id index answers for every indexed part, whatever the time, day, user or level the
    document claims (an archived id sent again with other fields is still held): one ledger
    query, and a ranged read of an index block only where an archived id may be. Parts without
    an index are read as before the index existed: those of the document's own day, user and
    level (a log can only be there), through the part cache.
    """
    wanted: dict[tuple, set[str]] = {}
    for document in documents:
        group = (document["timestamp"].astimezone(UTC).date(), document["user_id"], document["level"])
        wanted.setdefault(group, set()).add(str(document["_id"]))
    if not wanted:
        return {}
    located = idindex.locate(set().union(*wanted.values()))
    part_users = dict(ArchivePart.objects.filter(pk__in=set().union(*located.values())).values_list("pk", "user_id"))
    holders = {log_id: {part_users[pk] for pk in pks} for log_id, pks in located.items()}
    days, users, levels = (set(column) for column in zip(*wanted, strict=True))
    parts = ArchivePart.objects.defer("minute_counts").filter(
        day__in=days, user_id__in=users, level__in=levels, id_index__isnull=True
    )
    for part in parts:
        if ids := wanted.get((part.day, part.user_id, part.level)):
            for log_id in ids & part_ids(part):
                holders.setdefault(log_id, set()).add(part.user_id)
    return {ObjectId(log_id): user_ids for log_id, user_ids in holders.items()}
