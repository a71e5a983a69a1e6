"""One search, every source: ask each, merge by (timestamp, id), keep one row per id.

The setting `LOG_SOURCES` lists the sources in the order they are read, which is also
the order of preference: when two hold the same log (archived but not yet deleted from
MongoDB, or rehydrated), the earlier one's row wins.

Invariant that makes one search exact while the archiver runs: the archiver records
a part in the ledger (after uploading and verifying it) before it deletes that
part's logs from MongoDB, so at every moment each log is in MongoDB, in a recorded
part, or both. A search reads MongoDB first and the ledger (cold source) after it:

- purged before the hot read: the part was recorded earlier still, so the ledger read sees it;
- purged between the two reads: the ledger read comes after the recording, and sees it;
- purged after the ledger read (or not yet): the hot read saw it.

Read the other way round (ledger, then MongoDB), a part recorded and purged between
the two reads is in neither answer: the log is missed. Each source is read once per
page for the same reason: reading MongoDB again after the ledger reopens that gap.
"""

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from retrieval.metrics import QUERY_SECONDS
from retrieval.query import (
    ALL_LEVELS,
    EARLIEST,
    LATEST,
    MAX_PAGE_SIZE,
    Cursor,
    LogQuery,
    LogRow,
    Position,
    decode_cursor,
)
from retrieval.sources import PartialVolume, SourceUnavailable, Volume, log_sources

# How far from a log `around` looks for its neighbours (each way).
AROUND_SPAN = timedelta(days=7)


@dataclass
class SearchPage:
    rows: list[LogRow]
    next_cursor: str | None
    sources: dict[str, str]  # source name -> "ok" | "unavailable: <message>"
    partial: bool
    prev_cursor: str | None = None  # the page before this one; None on the first page
    offset: int = 1  # 1-based index of the first row in the search's order ("101-200 of 2,345")


@dataclass
class Histogram:
    buckets: list[datetime]
    counts: Volume
    sources: dict[str, str] = field(default_factory=dict)
    partial: bool = False

    @property
    def total(self) -> int:
        """Logs in the query's range: the total of a search's pages (a lower bound when partial)."""
        return sum(self.counts.values())


@dataclass
class Merged:
    rows: list[LogRow]  # at most the limit asked, in the query's order
    more: bool  # rows exist past them (never claimed when partial)
    sources: dict[str, str]
    partial: bool


def merged_rows(query: LogQuery, after: Position | None, limit: int) -> Merged:
    """The first `limit` rows of every source strictly after `after` in the query's order (see `search`)."""
    statuses: dict[str, str] = {}
    found: list[tuple[int, LogRow]] = []
    if query.matches_nothing:
        return Merged([], False, statuses, partial=False)
    for rank, source in enumerate(log_sources()):
        started = time.perf_counter()
        try:
            # One row more than the page tells whether a next page exists.
            rows = source.fetch(query, after, limit + 1)
        except SourceUnavailable as exc:
            statuses[source.name] = f"unavailable: {exc}"
            continue
        finally:
            # Failures too: a source that times out is the latency worth seeing.
            QUERY_SECONDS.observe(source.name, time.perf_counter() - started)
        statuses[source.name] = "ok"
        found.extend((rank, row) for row in rows)

    # `found` is in source rank order and the sort is stable: the preferred copy of a row comes first.
    found.sort(key=lambda pair: query.sort_key(pair[1]), reverse=query.newest_first)
    merged: list[LogRow] = []
    seen: set[str] = set()
    for _, row in found:
        if row.id not in seen:
            seen.add(row.id)
            merged.append(row)
    partial = any(status != "ok" for status in statuses.values())
    return Merged(merged[:limit], len(merged) > limit and not partial, statuses, partial)


def search(query: LogQuery, cursor: str | None = None) -> SearchPage:
    """One page of `query.limit` rows after `cursor` (a `next_cursor` of the previous page).

    Each source is asked, once, for `limit + 1` rows after the cursor. That is enough
    even when sources share logs: a source that returns all `limit + 1` rows asked
    brings that many distinct ids by itself (MongoDB's `_id` is unique; the cold reader
    drops an id repeated across parts, and ingest and the archiver keep one copy per
    id across hot and cold), so after dropping duplicates the merge
    still has a row past the page and `next_cursor` is set; a source that returns
    fewer has nothing more after the cursor. And any row in the true first `limit`
    of the union is among its own source's first `limit + 1`.

    A partial page (a source unavailable) has `next_cursor` None: its rows are the
    other sources' only, and a cursor past them would skip the missing source's rows
    for good. Ask the same page again (the same `cursor`) until it is not partial.

    A `prev_cursor` leads to the page before: the same merge with the order turned round,
    strictly before the page's first row, turned back; by the argument above it is exactly
    the `limit` rows before that row (each source still read once, hot before cold). Each
    cursor carries its row's 1-based index, so a page knows its `offset`.
    """
    state = decode_cursor(cursor, query.newest_first) if cursor else None
    if state is not None and state.backward:
        # The page before: the same merge in the other order from the page's first row, turned round.
        before = merged_rows(replace(query, newest_first=not query.newest_first), state.position, query.limit)
        rows = before.rows[::-1]
        offset = max(1, state.index - len(rows))
        has_prev, has_next = before.more, bool(rows) and not before.partial
        result = before
    else:
        result = merged_rows(query, state.position if state else None, query.limit)
        rows = result.rows
        offset = state.index + 1 if state and state.index else 1
        # A partial page never moves the cursor on (see the docstring).
        has_prev, has_next = offset > 1 and bool(rows) and not result.partial, result.more
    page = SearchPage(rows, None, result.sources, partial=result.partial, offset=offset)
    pinned = (query.start, query.end)
    if has_next:
        page.next_cursor = Cursor(
            query.sort_key(rows[-1]), query.newest_first, offset + len(rows) - 1, False, pinned, query.time_params
        ).encode()
    if has_prev:
        page.prev_cursor = Cursor(
            query.sort_key(rows[0]), query.newest_first, offset, True, pinned, query.time_params
        ).encode()
    return page


def unavailable(sources: dict[str, str]) -> SourceUnavailable:
    """The error of an answer that some source could not give, naming each source's status."""
    return SourceUnavailable("; ".join(f"{name}: {status}" for name, status in sources.items()))


def iter_all(query: LogQuery) -> Iterator[LogRow]:
    """Every row of the query, page by page (exports): memory stays at one page.

    Raises SourceUnavailable when a source cannot answer: an export is whole or fails
    (a partial page has no `next_cursor` anyway, so it could not go on exactly).
    """
    query = replace(query, limit=MAX_PAGE_SIZE)
    cursor = None
    while True:
        page = search(query, cursor)
        if page.partial:
            raise unavailable(page.sources)
        yield from page.rows
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def histogram(query: LogQuery) -> Histogram:
    """Log volume per time bucket and level over the query's range, summed over the sources.

    Partial when a source could not answer, or counted only part of the range in time (a
    keyword over a long range, `sources.PartialVolume`): its counts so far are kept, a lower bound.
    """
    result = Histogram(buckets=query.buckets(), counts=Counter())
    for source in [] if query.matches_nothing else log_sources():
        try:
            result.counts.update(source.volume(query))
            result.sources[source.name] = "ok"
        except PartialVolume as exc:
            result.counts.update(exc.counts)
            result.sources[source.name] = f"partial: {exc}"
            result.partial = True
        except SourceUnavailable as exc:
            result.sources[source.name] = f"unavailable: {exc}"
            result.partial = True
    return result


def id_holders(documents: list[dict[str, Any]]) -> dict[ObjectId, set[int]]:
    """Ids of `documents` (logs about to be stored) that some source holds already -> the user_ids holding them.

    Raises SourceUnavailable when a source cannot tell: storing then could make a second copy.
    """
    holders: dict[ObjectId, set[int]] = {}
    for source in log_sources():
        for log_id, user_ids in source.id_holders(documents).items():
            holders.setdefault(log_id, set()).update(user_ids)
    return holders


# How far from the time in a log's id `find_log` looks for it in archive parts that have no id index
# (recorded before it existed): ingest's ids carry the log's own second, and a sender's ObjectId the
# moment it was made, close to its timestamp.
FIND_SLACK = timedelta(hours=1)


def find_log(log_id: str, query: LogQuery) -> LogRow | None:
    """The log with this id (hex ObjectId) that `query`'s users and levels cover, hot or cold; None if none.

    Every source is asked for the id whatever the log's time: MongoDB by its `_id` index, the
    archive through its id index (archive.idindex). The query's range, the hour either side of
    the id's own time (FIND_SLACK), is for sources that cannot do better: the archive's parts
    recorded before its id index existed.
    Raises SourceUnavailable when it was not found and a source could not answer.
    """
    moment = ObjectId(log_id).generation_time
    window = replace(
        query,
        start=max(EARLIEST, moment - FIND_SLACK),
        end=min(LATEST, moment + FIND_SLACK),
        log_id=log_id,
        keyword="",
        q="",
        read_range=None,
        time_params=(),
    )
    found = merged_rows(window, None, 1)
    if found.rows:
        return found.rows[0]
    if found.partial:
        raise unavailable(found.sources)
    return None


@dataclass
class Around:
    before: list[LogRow]  # oldest first, up to the log
    after: list[LogRow]  # oldest first, from the log on
    sources: dict[str, str]
    partial: bool


def around(row: LogRow, query: LogQuery, before: int = 50, after: int = 50) -> Around:
    """The `before` logs before `row` and the `after` logs after it of the same user, at every level, hot and cold.

    `query` is the reader's search (its scope: a user it does not cover gets nothing). Two
    merges (`merged_rows`), one each way from the row's position, within AROUND_SPAN of it.
    """
    if (query.user_ids or query.granted_users) and row.user_id not in query.user_ids:
        return Around([], [], {}, partial=False)
    base = replace(
        query,
        user_ids=(row.user_id,),
        levels=ALL_LEVELS,
        start=max(EARLIEST, row.timestamp - AROUND_SPAN),
        end=min(LATEST, row.timestamp + AROUND_SPAN),
        keyword="",
        q="",
        log_id=None,
        read_range=None,
        time_params=(),
    )
    position = base.sort_key(row)
    older = merged_rows(replace(base, newest_first=True), position, before) if before else None
    newer = merged_rows(replace(base, newest_first=False), position, after) if after else None
    merges = [merge for merge in (older, newer) if merge]
    sources: dict[str, str] = {}
    for merge in merges:
        for name, status in merge.sources.items():
            if sources.get(name, "ok") == "ok":  # a failure either way is the source's status
                sources[name] = status
    return Around(
        before=older.rows[::-1] if older else [],
        after=newer.rows if newer else [],
        sources=sources,
        partial=any(merge.partial for merge in merges),
    )
