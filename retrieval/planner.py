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
from datetime import datetime
from typing import Any

from bson import ObjectId

from retrieval.metrics import QUERY_SECONDS
from retrieval.query import MAX_PAGE_SIZE, LogQuery, LogRow, decode_cursor, encode_cursor
from retrieval.sources import SourceUnavailable, Volume, log_sources


@dataclass
class SearchPage:
    rows: list[LogRow]
    next_cursor: str | None
    sources: dict[str, str]  # source name -> "ok" | "unavailable: <message>"
    partial: bool


@dataclass
class Histogram:
    buckets: list[datetime]
    counts: Volume
    sources: dict[str, str] = field(default_factory=dict)
    partial: bool = False


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
    """
    after = decode_cursor(cursor, query.newest_first) if cursor else None
    statuses: dict[str, str] = {}
    found: list[tuple[int, LogRow]] = []
    for rank, source in enumerate(log_sources()):
        started = time.perf_counter()
        try:
            # One row more than the page tells whether a next page exists.
            rows = source.fetch(query, after, query.limit + 1)
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
    rows = merged[: query.limit]
    partial = any(status != "ok" for status in statuses.values())
    # A partial page never moves the cursor on (see the docstring).
    has_more = len(merged) > query.limit and not partial
    next_cursor = encode_cursor(query.sort_key(rows[-1]), query.newest_first) if has_more else None
    return SearchPage(rows, next_cursor, statuses, partial=partial)


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
            raise SourceUnavailable("; ".join(f"{name}: {status}" for name, status in page.sources.items()))
        yield from page.rows
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def histogram(query: LogQuery) -> Histogram:
    """Log volume per time bucket and level over the query's range, summed over the sources."""
    result = Histogram(buckets=query.buckets(), counts=Counter())
    for source in log_sources():
        try:
            result.counts.update(source.volume(query))
            result.sources[source.name] = "ok"
        except SourceUnavailable as exc:
            result.sources[source.name] = f"unavailable: {exc}"
            result.partial = True
    return result


def held_ids(documents: list[dict[str, Any]]) -> set[ObjectId]:
    """Ids of `documents` (logs about to be stored) that some source holds already.

    Raises SourceUnavailable when a source cannot tell: storing then could make a second copy.
    """
    return set().union(*(source.held_ids(documents) for source in log_sources()))
