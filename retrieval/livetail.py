"""The live tail: the logs of a search that arrived since the last poll, each sent once (`tail`), read from
MongoDB only (new logs arrive there; the archiver moves day-old ones). The page's tail and
GET /api/v1/logs/tail both call it.
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId
from django.conf import settings
from django.core import signing

from retrieval.query import LATEST, InvalidCursor, LogQuery, LogRow, Position, isoformat
from retrieval.sources import SourceUnavailable, log_sources

# How far back each poll looks again for logs that arrived late, how many ids a tail cursor
# remembers to not send twice, and how far ahead of the server's clock it reads (ingest accepts
# logs stamped up to a day ahead). How often clients poll is the setting TAIL_POLL_SECONDS.
TAIL_OVERLAP = timedelta(seconds=30)
TAIL_MAX_SEEN = 50
TAIL_AHEAD = timedelta(days=1)
TAIL_CURSOR_SALT = "retrieval.tail"
ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass
class TailPage:
    rows: list[LogRow]  # oldest first
    cursor: str  # pass as `after` to the next poll
    poll_seconds: int  # how long clients wait before the next poll (none when `full`)
    sources: dict[str, str]
    partial: bool
    full: bool = False  # as many rows as asked: more may be waiting, poll again at once


ZERO_ID = "0" * 24


class TailRangeEnded(ValueError):
    """A tail of a range that ended before now: no new log would ever be in it."""

    def __init__(self, query: LogQuery) -> None:
        given = dict(query.time_params)
        # The parameter that set the range's end: the day, `to`, or `from` (its span after it).
        self.parameter = next((name for name in ("date", "to", "from") if name in given), "to")
        super().__init__(
            f"A live tail shows logs as they arrive: this range ended at {query.end:%Y-%m-%d %H:%M:%S} UTC. "
            "Give a range that runs to now (no `to`, or `to=now`)."
        )


def tail_range_ended(query: LogQuery, now: datetime) -> bool:
    """Has the query's range ended before `now` (the moment its relative times were resolved at)?"""
    return query.end < now


def tail(query: LogQuery, cursor: str | None, now: datetime) -> TailPage:
    """A live tail of `query` (its users, levels, keyword, q): the rows that arrived since `cursor`.

    `query`'s relative times must have been resolved at `now`: a range that runs to now (its
    end is `now`) follows the clock, reading up to TAIL_AHEAD past it; a later end is honoured;
    an earlier one raises TailRangeEnded. Without a cursor: the newest `query.limit` rows of
    the range, oldest first. With one: up to `query.limit` rows after it, oldest first, none
    sent before, read from the cursor's boundary on (never further back). Each poll reads
    again the TAIL_OVERLAP before the newest row sent, so that a log arriving late (stamped
    before rows already sent) is still sent once; the cursor remembers the ids sent within
    that window (at most TAIL_MAX_SEEN: past that the window shrinks, and a late log behind it
    is not sent). Only MongoDB is read: new logs arrive there and the archiver moves only
    day-old ones, so the cold source would hold none of them.
    Raises InvalidCursor for a cursor that is not a tail cursor.
    """
    if tail_range_ended(query, now):
        raise TailRangeEnded(query)
    poll_seconds = settings.TAIL_POLL_SECONDS
    hot = next(source for source in log_sources() if source.name == "hot")
    # Running to now: the clock, and logs stamped ahead of it (ingest takes them); a later end is kept.
    end = min(LATEST, now + TAIL_AHEAD, LATEST if query.end == now else query.end)
    rows: list[LogRow] = []
    seen: list[Position] = []
    statuses: dict[str, str] = {}
    try:
        if query.matches_nothing:
            boundary = (now - TAIL_OVERLAP, ZERO_ID)
        elif cursor is None:
            rows = hot.fetch(replace(query, newest_first=True, end=end, read_range=None), None, query.limit)[::-1]
            boundary = _first_boundary(rows, now)
        else:
            boundary, seen = _decode_tail(cursor)
            ids = {log_id for _, log_id in seen}
            since = replace(query, newest_first=False, start=max(query.start, boundary[0]), end=end, read_range=None)
            if since.start < since.end:
                read = hot.fetch(since, boundary, query.limit + len(seen))
                rows = [row for row in read if row.id not in ids][: query.limit]
        statuses[hot.name] = "ok"
    except SourceUnavailable as exc:
        statuses[hot.name] = f"unavailable: {exc}"
        # The same cursor again: nothing was sent, nothing is skipped.
        return TailPage([], cursor or _encode_tail((now - TAIL_OVERLAP, ZERO_ID), []), poll_seconds, statuses, True)
    next_cursor = _cursor_past(boundary, [*seen, *((row.timestamp, row.id) for row in rows)])
    return TailPage(rows, next_cursor, poll_seconds, statuses, False, full=len(rows) >= query.limit)


def tail_cursor(shown: list[LogRow], now: datetime) -> str:
    """The cursor of a tail that goes on from `shown` (a search's newest rows, on its first page made at `now`).

    Its first poll reads from the overlap before the newest of them, as any later poll does: not the
    search's whole range again.
    """
    return _cursor_past(_first_boundary(shown, now), [(row.timestamp, row.id) for row in shown])


def _first_boundary(rows: list[LogRow], now: datetime) -> Position:
    """Where a tail that starts with `rows` (the newest of its search; none: nothing yet) reads from."""
    if not rows:
        return (now - TAIL_OVERLAP, ZERO_ID)
    keys = [(row.timestamp, row.id) for row in rows]
    # Older logs than the oldest of them are history (the search's later pages), not news.
    return max((max(keys)[0] - TAIL_OVERLAP, ZERO_ID), min(keys))


def _cursor_past(boundary: Position, sent: list[Position]) -> str:
    """The cursor after the rows `sent`: the overlap before the newest of them, and their ids within it."""
    sent = sorted(set(sent))
    if sent:
        boundary = max(boundary, (sent[-1][0] - TAIL_OVERLAP, ZERO_ID))
    kept = [key for key in sent if key > boundary]
    if len(kept) > TAIL_MAX_SEEN:
        boundary, kept = kept[-TAIL_MAX_SEEN - 1], kept[-TAIL_MAX_SEEN:]
    return _encode_tail(boundary, kept)


def _encode_tail(boundary: Position, seen: list[Position]) -> str:
    # Microseconds after the boundary keep the token short enough for a URL.
    base = boundary[0]
    return signing.dumps(
        [isoformat(base), boundary[1], [[(stamp - base) // ONE_MICROSECOND, log_id] for stamp, log_id in seen]],
        salt=TAIL_CURSOR_SALT,
        compress=True,
    )


def _decode_tail(token: str) -> tuple[Position, list[Position]]:
    try:
        stamp, log_id, seen = signing.loads(token, salt=TAIL_CURSOR_SALT)
        base = datetime.fromisoformat(stamp).astimezone(UTC)
        return (base, str(ObjectId(log_id))), [
            (base + int(offset) * ONE_MICROSECOND, str(ObjectId(seen_id))) for offset, seen_id in seen
        ]
    except (signing.BadSignature, InvalidId, ValueError, TypeError) as exc:
        raise InvalidCursor("This tail cursor is not valid.") from exc
