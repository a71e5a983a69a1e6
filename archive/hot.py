"""Hot storage, asked only for the days MongoDB may hold (`archive.boundary`, the one rule).

Once the archiver has emptied a day from MongoDB, a search of that day finds nothing there:
reading MongoDB anyway costs a query (a scan on FerretDB) for no row. `HotSource` here is
retrieval's, with the query's range narrowed to the days not emptied (`boundary.emptied_days`:
never archived, not finished, rehydrated, or with late logs).

The decision reads the ledger before MongoDB, and the cold source reads the ledger after
it, so the planner's order (hot strictly before cold) still holds: a day skipped here was
wholly in recorded parts when this source looked. If the SQL database cannot answer, the
whole range is read, as without the archive.
"""

import logging
from collections import Counter
from dataclasses import replace
from datetime import timedelta

from django.db import DatabaseError

from archive.boundary import emptied_days, query_days, touched_days
from retrieval import buckets, sources
from retrieval.buckets import day_bounds
from retrieval.query import LogQuery, LogRow, Position

logger = logging.getLogger(__name__)


class HotSource(sources.HotSource):
    def fetch(self, query: LogQuery, after: Position | None, limit: int) -> list[LogRow]:
        narrowed = hot_part(query)
        return [] if narrowed is None else super().fetch(narrowed, after, limit)

    def volume(self, query: LogQuery) -> sources.Volume:
        narrowed = hot_part(query)
        return Counter() if narrowed is None else super().volume(narrowed)

    def uncounted_days(self, query: LogQuery) -> set[int]:
        """The days of `query` the archiver has touched (a part recorded, or the day emptied): their logs
        leave MongoDB (and come back, rehydrated) without the counters knowing, so they are counted from
        the logs MongoDB holds. If the ledger does not answer, every day is.
        """
        first_day, last_day = query_days(query)
        try:
            touched = touched_days(first_day, last_day)
        except DatabaseError as exc:
            logger.warning("Counting hot logs from MongoDB: the archive ledger did not answer (%s)", exc)
            touched = {first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)}
        return {buckets.day_of(day_bounds(day)[0]) for day in touched}


def hot_part(query: LogQuery) -> LogQuery | None:
    """`query` reading only from the first to the last day MongoDB may hold (None: it holds none of them).

    One log by id is asked of MongoDB whatever the days: its `_id` index finds it wherever its time lies.
    """
    if query.log_id is not None:
        return query
    first_day, last_day = query_days(query)
    try:
        cold_only = emptied_days(first_day, last_day)
    except DatabaseError as exc:
        logger.warning("Reading MongoDB for the whole range: the archive ledger did not answer (%s)", exc)
        return query
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    hot_days = [day for day in days if day not in cold_only]
    if not hot_days:
        return None
    start = max(query.start, day_bounds(hot_days[0])[0])
    end = min(query.end, day_bounds(hot_days[-1])[1])
    # Only the ends narrow: an emptied day between two hot ones is read (one range keeps one index scan).
    return query if (start, end) == (query.start, query.end) else replace(query, read_range=(start, end))
