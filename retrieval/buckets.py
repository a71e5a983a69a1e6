"""Time buckets kept in every hot log document: `hour`, `day` and `tick` (whole hours, days and
TICK_SPANs since 1970-01-01 UTC), and `ahead` on a log stamped later than its arrival.

Also the one place of day arithmetic: the epoch (`EPOCH`) and a UTC day's bounds (`day_bounds`).

Why they exist: FerretDB on PostgreSQL (the embedded default) sends only top-level
scalar equalities to PostgreSQL; a time range, a sort or a limit is done in FerretDB
after it has decoded every row the equalities matched. An equality on the bucket of
a log's time lets a search read one hour (or one day) at a time, newest first, and
stop when its page is full (`retrieval.sources.HotSource`). On MongoDB the compound
indexes serve the range as they are; the integers cost a few bytes a log.

The newest minutes are read in ticks of TICK_SPAN (the live tail, a landing page at a
high rate): the current hour can hold millions of logs, all decoded by an `hour`
equality. A log stamped AHEAD_MARGIN or more after it arrived (a sender's clock ahead,
the tail reads up to a day past now) gets `ahead: 1`, so that the part of a range
after now is one equality on a few logs, not the current hour's.

Every door that writes hot logs stamps them (`stamp`): ingest (JSON, NDJSON, OTLP),
the demo seed and rehydration. Archived lines leave them out (`archive.jsonl`): they
are a property of hot storage, not of the log.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = "hour"
DAY = "day"
TICK = "tick"
AHEAD = "ahead"
FIELDS = (HOUR, DAY, TICK, AHEAD)
ONE_HOUR = timedelta(hours=1)
ONE_DAY = timedelta(days=1)
TICK_SPAN = timedelta(seconds=1)  # 500 logs at 500/s: FerretDB decodes a tick's logs in tens of ms
AHEAD_MARGIN = timedelta(seconds=10)  # more than web servers' clocks disagree


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The half-open UTC range [midnight, next midnight) of `day`."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + ONE_DAY


def _aware(moment: datetime) -> datetime:
    # pymongo hands back naive datetimes that are UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def hour_of(moment: datetime) -> int:
    """The hour bucket of a time: whole hours since the epoch (UTC)."""
    return (_aware(moment) - EPOCH) // ONE_HOUR


def day_of(moment: datetime) -> int:
    """The day bucket of a time: whole days since the epoch (UTC)."""
    return (_aware(moment) - EPOCH) // ONE_DAY


def tick_of(moment: datetime) -> int:
    """The tick bucket of a time: whole TICK_SPANs since the epoch (UTC)."""
    return (_aware(moment) - EPOCH) // TICK_SPAN


def tick_start(tick: int) -> datetime:
    return EPOCH + tick * TICK_SPAN


def hour_start(hour: int) -> datetime:
    return EPOCH + hour * ONE_HOUR


def day_start(day: int) -> datetime:
    return EPOCH + day * ONE_DAY


def stamp(document: dict, now: datetime) -> dict:
    """Set the document's bucket fields from its `timestamp` (in place) and return it; `now` is its arrival."""
    timestamp = _aware(document["timestamp"])
    since = timestamp - EPOCH
    document[HOUR] = since // ONE_HOUR
    document[DAY] = since // ONE_DAY
    document[TICK] = since // TICK_SPAN
    if timestamp >= now + AHEAD_MARGIN:
        # `>=`: a log without the flag is older than its arrival + the margin, so older than any
        # later reader's now + the margin, where the reader's `ahead` equality takes over.
        document[AHEAD] = 1  # an integer: FerretDB pushes integer equalities down (booleans are not measured)
    else:
        document.pop(AHEAD, None)
    return document


def stamped(documents: Iterable[dict]) -> list[dict]:
    """`documents` with their bucket fields set (in place), arriving now: what to hand to `insert_many`."""
    now = datetime.now(UTC)
    return [stamp(document, now) for document in documents]
