"""Time buckets kept in every hot log document: `hour` and `day`, whole hours and days since 1970-01-01 UTC.

Also the one place of day arithmetic: the epoch (`EPOCH`) and a UTC day's bounds (`day_bounds`).

Why they exist: FerretDB on PostgreSQL (the embedded default) sends only top-level
scalar equalities to PostgreSQL; a time range, a sort or a limit is done in FerretDB
after it has decoded every row the equalities matched. An equality on the bucket of
a log's time lets a search read one hour (or one day) at a time, newest first, and
stop when its page is full (`retrieval.sources.HotSource`). On MongoDB the compound
indexes serve the range as they are; the two integers cost a few bytes a log.

Every door that writes hot logs stamps them (`stamp`): ingest (JSON, NDJSON, OTLP),
the demo seed and rehydration. Archived lines leave them out (`archive.jsonl`): they
are a property of hot storage, not of the log.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = "hour"
DAY = "day"
FIELDS = (HOUR, DAY)
ONE_HOUR = timedelta(hours=1)
ONE_DAY = timedelta(days=1)


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


def hour_start(hour: int) -> datetime:
    return EPOCH + hour * ONE_HOUR


def day_start(day: int) -> datetime:
    return EPOCH + day * ONE_DAY


def stamp(document: dict) -> dict:
    """Set the document's bucket fields from its `timestamp` (in place) and return it."""
    since = _aware(document["timestamp"]) - EPOCH
    document[HOUR] = since // ONE_HOUR
    document[DAY] = since // ONE_DAY
    return document


def stamped(documents: Iterable[dict]) -> list[dict]:
    """`documents` with their bucket fields set (in place): what to hand to `insert_many`."""
    return [stamp(document) for document in documents]
