"""The metrics store: per (bucket, user_id, model, name) count, sum, min, max and last, in SQL.

Written as hot logs are stored (`intake`, a hook of `retrieval.hotstore.insert`): one multi-row
upsert per insert (`merge`), so a chunk of 2,000 logs of 300 users costs one statement, not an
update per series. Kept when logs are archived (the archiver deletes logs, not these rows).

Exactness, per UTC day (`MetricDay`), the rule of the hot histogram counters (docs/architecture.md):
a writer adds 1 to `started` of its days before its insert, and after it writes the aggregates of
the logs MongoDB actually accepted (a duplicate id counts once) and adds 1 to `finished` in the same
transaction. A writer that died in between leaves `started > finished`: the day is in doubt (the API
answers `partial`) until `recount_day` rebuilds it from the logs (hot, then archived, each id once),
which `heal` (beat, every 15 minutes) does for days whose last writer started over HEAL_AFTER ago.

Bounded storage: hourly rows of days older than METRICS_HOURLY_DAYS are rolled up into daily rows
(`roll_up`, beat, daily). Rows are per series, not per log: see docs/architecture.md "Model metrics".
"""

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet, Sum
from django.utils import timezone

from archive import jsonl, reader
from archive.models import ArchivePart
from metrics import extract
from metrics.models import DAY, HOUR, MetricBucket, MetricDay
from retrieval import buckets
from retrieval.models import LogEntry
from retrieval.query import BUCKET_ORIGIN

HEAL_AFTER = timedelta(minutes=10)
# Writers have deadlines of seconds: one that started longer ago and has not finished lost its write.
STALLED_AFTER = timedelta(minutes=1)
ROWS_PER_STATEMENT = 5000
REHYDRATED = "rehydrated_until"  # archive.rehydrate's mark: those logs are counted already
COLD_COLUMNS = {
    "_id": "VARCHAR",
    "timestamp": "VARCHAR",
    "user_id": "BIGINT",
    "message": "VARCHAR",
    "logger": "VARCHAR",
    "context": "JSON",
    "metrics": "JSON",
}

Key = tuple[str, int, datetime, str, int]  # name, user_id, start, model, width


@dataclass
class Stats:
    count: int = 0
    total: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")
    last: tuple[datetime, float] = field(default=(datetime.min.replace(tzinfo=UTC), float("-inf")))

    def add(self, value: float, at: datetime) -> None:
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        self.last = max(self.last, (at, value))

    def combine(self, other: "Stats") -> None:
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.last = max(self.last, other.last)


def hour_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def metrics_of(document: dict, known: dict[str, str]) -> dict[str, float]:
    """What intake stored with the log, or, for a log stored before extraction existed, its extraction now."""
    stored = document.get("metrics")
    return stored if isinstance(stored, dict) else extract.extract(document, known)


def aggregate(documents: Iterable[dict], known: dict[str, str]) -> dict[Key, Stats]:
    """Hourly stats of documents (each with `timestamp`, `user_id` and what `metrics_of` and `model_of` read)."""
    stats: dict[Key, Stats] = defaultdict(Stats)
    for document in documents:
        values = metrics_of(document, known)
        if not values:
            continue
        at = document["timestamp"]
        if at.tzinfo is None:  # pymongo's naive UTC
            at = at.replace(tzinfo=UTC)
        start, model, user_id = hour_start(at), extract.model_of(document), document["user_id"]
        for name, value in values.items():
            stats[(name, user_id, start, model, HOUR)].add(float(value), at)
    return stats


COLUMNS = ("name", "user_id", "start", "model", "width", "count", "total", "minimum", "maximum", "last", "last_at")
# PostgreSQL: the rows as one JSON parameter. Binding thousands of scalars costs more than the upsert itself,
# and so does psycopg's client-side quoting of one array per column (~60 ms a batch of 2,000 logs); one string
# is quoted in C.
POSTGRESQL_ROWS = (
    "SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r(name varchar, user_id integer, start timestamptz, "
    "model varchar, width integer, count bigint, total double precision, minimum double precision, "
    "maximum double precision, last double precision, last_at timestamptz)"
)


def merge(stats: dict[Key, Stats]) -> None:
    """Add `stats` to the stored rows (an upsert per ROWS_PER_STATEMENT keys on PostgreSQL); call inside a transaction."""
    table = MetricBucket._meta.db_table
    postgresql = connection.vendor == "postgresql"
    least, greatest = ("LEAST", "GREATEST") if postgresql else ("MIN", "MAX")
    items = list(stats.items())
    # SQLite takes at most 32,766 parameters a statement.
    size = ROWS_PER_STATEMENT if postgresql else 32_766 // len(COLUMNS)
    for first in range(0, len(items), size):
        chunk = items[first : first + size]
        rows = [
            (name, user_id, start, model, width, s.count, s.total, s.minimum, s.maximum, s.last[1], s.last[0])
            for (name, user_id, start, model, width), s in chunk
        ]
        params: list[Any]
        if postgresql:
            records = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
            source, params = POSTGRESQL_ROWS, [json.dumps(records, default=datetime.isoformat)]
        else:
            # SQLite: a VALUES row each ("WHERE true" lets ON CONFLICT follow a SELECT without ambiguity).
            source = "SELECT * FROM (VALUES " + ", ".join(["(" + ", ".join(["%s"] * len(COLUMNS)) + ")"] * len(rows))
            source += ") WHERE true"
            params = [value for row in rows for value in row]
        # The latest log's value is `last`; of two at the same time, the larger: the same whatever the order.
        sql = (
            f"INSERT INTO {table} AS t ({', '.join(COLUMNS)}) {source} "
            "ON CONFLICT (name, user_id, start, model, width) DO UPDATE SET "
            "count = t.count + excluded.count, total = t.total + excluded.total, "
            f"minimum = {least}(t.minimum, excluded.minimum), maximum = {greatest}(t.maximum, excluded.maximum), "
            "last = CASE WHEN (excluded.last_at, excluded.last) > (t.last_at, t.last) THEN excluded.last "
            f"ELSE t.last END, last_at = {greatest}(t.last_at, excluded.last_at)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def start_writing(days: set[date]) -> None:
    """A writer is about to insert logs of `days` (the rule in the module docstring)."""
    table = MetricDay._meta.db_table
    now = timezone.now()
    rows = sorted(days)
    values = ", ".join(["(%s, 1, 0, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS t (day, started, finished, last_start) VALUES {values} "
            "ON CONFLICT (day) DO UPDATE SET started = t.started + 1, last_start = excluded.last_start",
            [item for day in rows for item in (day, now)],
        )


def finish_writing(days: set[date], inserted: list[dict], known: dict[str, str]) -> None:
    """Store the aggregates of the logs MongoDB accepted and close the writes of `days`, in one transaction."""
    stats = aggregate(inserted, known)
    with transaction.atomic():
        merge(stats)
        MetricDay.objects.filter(day__in=days).update(finished=F("finished") + 1)


def day_logs(day: date) -> Iterable[dict]:
    """Every log of `day`, each id once: MongoDB's first, then the archived ones MongoDB does not hold.

    Hot before cold, as the search planner reads: a log purged between the two reads is in a recorded part.
    """
    hot_ids = set()
    found = LogEntry.collection().find(
        {buckets.DAY: buckets.day_of(day_start(day))},
        {"_id": 1, "timestamp": 1, "user_id": 1, "message": 1, "logger": 1, "context": 1, "metrics": 1},
        batch_size=10_000,
    )
    for document in found:
        hot_ids.add(str(document["_id"]))
        yield document
    parts = list(ArchivePart.objects.defer("minute_counts").filter(day=day))
    for log_id, stamp, user_id, message, logger, context, values in reader.rows(parts, COLD_COLUMNS):
        if log_id in hot_ids:
            continue
        hot_ids.add(log_id)  # a log an older archiver wrote into two parts counts once
        document = {"timestamp": jsonl.parse_timestamp(stamp), "user_id": user_id, "message": message or ""}
        if logger is not None:
            document["logger"] = logger
        if context is not None:
            document["context"] = json.loads(context)
        if values is not None:
            document["metrics"] = json.loads(values)
        yield document


def recount_day(day: date, now: datetime | None = None) -> bool:
    """Rebuild the aggregates of `day` from its logs, hot and archived; False (nothing done) if a writer of the
    day started less than HEAL_AFTER ago and has not finished.

    The day's `MetricDay` row stays locked meanwhile, so no writer starts (they wait). Memory: the day's
    aggregates; the logs stream (archived parts a day at a time, as the cold reader reads them).
    """
    now = now or timezone.now()
    known = extract.names.get()
    with transaction.atomic():
        MetricDay.objects.get_or_create(day=day)
        state = MetricDay.objects.select_for_update().get(day=day)
        if state.started != state.finished and state.last_start and state.last_start > now - HEAL_AFTER:
            return False
        stats = aggregate(day_logs(day), known)
        start = day_start(day)
        MetricBucket.objects.filter(start__gte=start, start__lt=start + timedelta(days=1)).delete()
        merge(stats)
        state.finished, state.rebuilt_at = state.started, now
        state.save(update_fields=["finished", "rebuilt_at"])
    return True


def stale_days(now: datetime | None = None, after: timedelta = HEAL_AFTER) -> list[date]:
    """Days in doubt whose last writer started more than `after` ago (its write was lost)."""
    cutoff = (now or timezone.now()) - after
    return list(
        MetricDay.objects.exclude(started=F("finished"))
        .filter(last_start__lt=cutoff)
        .order_by("day")
        .values_list("day", flat=True)
    )


def heal() -> list[date]:
    """Recount the days that lost a write; returns those left in doubt (a writer came meanwhile)."""
    return [day for day in stale_days() if not recount_day(day)]


def archived_days_to_rebuild() -> list[date]:
    """Days with archived parts that no recount has covered since the store existed, oldest first."""
    rebuilt = set(MetricDay.objects.filter(rebuilt_at__isnull=False).values_list("day", flat=True))
    archived = ArchivePart.objects.order_by("day").values_list("day", flat=True).distinct()
    return [day for day in archived if day not in rebuilt]


def roll_up(now: datetime | None = None) -> list[date]:
    """Fold the hourly rows of days older than METRICS_HOURLY_DAYS into one row per day; returns the days done."""
    cutoff = day_start((now or timezone.now()).astimezone(UTC).date() - timedelta(days=settings.METRICS_HOURLY_DAYS))
    done = []
    while oldest := MetricBucket.objects.filter(width=HOUR, start__lt=cutoff).order_by("start").first():
        day = oldest.start.astimezone(UTC).date()
        roll_up_day(day)
        done.append(day)
    return done


def roll_up_day(day: date) -> None:
    """Replace the hourly rows of `day` by daily ones, under the day's lock (a recount waits)."""
    table = MetricBucket._meta.db_table
    start = day_start(day)
    with transaction.atomic():
        MetricDay.objects.get_or_create(day=day)
        MetricDay.objects.select_for_update().get(day=day)
        # DELETE ... RETURNING: a writer's row committed after this statement stays for the next roll-up.
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE width = %s AND start >= %s AND start < %s "
                "RETURNING name, user_id, model, count, total, minimum, maximum, last, last_at",
                [HOUR, start, start + timedelta(days=1)],
            )
            hourly = cursor.fetchall()
        daily: dict[Key, Stats] = defaultdict(Stats)
        for name, user_id, model, count, total, minimum, maximum, last, last_at in hourly:
            if last_at.tzinfo is None:  # SQLite
                last_at = last_at.replace(tzinfo=UTC)
            daily[(name, user_id, start, model, DAY)].combine(Stats(count, total, minimum, maximum, (last_at, last)))
        merge(daily)


@dataclass(frozen=True)
class Point:
    t: datetime
    stats: Stats


@dataclass(frozen=True)
class Series:
    user_id: int
    model: str
    points: list[Point]


def align(moment: datetime, step: timedelta) -> datetime:
    """The start of the step holding `moment` (steps counted from a Monday midnight UTC)."""
    return BUCKET_ORIGIN + ((moment - BUCKET_ORIGIN) // step) * step


def series(
    name: str,
    user_ids: Sequence[int] | None,
    models: Sequence[str],
    start: datetime,
    end: datetime,
    step: timedelta,
) -> list[Series]:
    """The stored buckets of `name` in [start, end) per (user_id, model) and step, oldest first.

    `user_ids` None: every user. A row falls in the step holding its start: a day rolled up lands whole in
    the step holding its midnight. `start` and `end` are taken as aligned to `step` by the caller.
    """
    rows = MetricBucket.objects.filter(name=name, start__gte=start, start__lt=end)
    if user_ids is not None:
        rows = rows.filter(user_id__in=user_ids)
    if models:
        rows = rows.filter(model__in=models)
    grouped: dict[tuple[int, str], dict[datetime, Stats]] = defaultdict(lambda: defaultdict(Stats))
    for user_id, model, at, count, total, minimum, maximum, last, last_at in rows.values_list(
        "user_id", "model", "start", "count", "total", "minimum", "maximum", "last", "last_at"
    ):
        grouped[(user_id, model)][align(at, step)].combine(Stats(count, total, minimum, maximum, (last_at, last)))
    return [
        Series(user_id, model, [Point(t, stats) for t, stats in sorted(points.items())])
        for (user_id, model), points in sorted(grouped.items())
    ]


def lost_writes(start: datetime, end: datetime, now: datetime | None = None) -> bool:
    """Whether a day of [start, end) lost a write not recounted yet (its aggregates may miss logs)."""
    return (
        MetricDay.objects.exclude(started=F("finished"))
        .filter(day__gte=start.date(), day__lte=end.date(), last_start__lt=(now or timezone.now()) - STALLED_AFTER)
        .exists()
    )


def _in_range(user_ids: Sequence[int] | None, start: datetime, end: datetime) -> QuerySet[MetricBucket]:
    rows = MetricBucket.objects.filter(start__gte=start, start__lt=end)
    return rows if user_ids is None else rows.filter(user_id__in=user_ids)


def names(user_ids: Sequence[int] | None, start: datetime, end: datetime) -> list[tuple[str, int]]:
    """The metric names with values in [start, end) and how many values each has, by name."""
    rows = _in_range(user_ids, start, end)
    return list(rows.values("name").annotate(n=Sum("count")).order_by("name").values_list("name", "n"))


def models(name: str, user_ids: Sequence[int] | None, start: datetime, end: datetime) -> list[str]:
    """The models with values of `name` in [start, end), sorted."""
    rows = _in_range(user_ids, start, end).filter(name=name)
    return list(rows.order_by("model").values_list("model", flat=True).distinct())
