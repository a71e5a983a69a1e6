"""The hot/cold day boundary, in one place: which days MongoDB may hold.

The archiver moves every complete UTC day before `archive_before(today)` (HOT_RETENTION_DAYS) to
object storage, one part per (user, level), and purges MongoDB of exactly the logs it verified. One
rule then says where a day's logs are:

- a part's logs are in MongoDB while it is not purged, or again while it is rehydrated (`IN_MONGODB`);
- a day is *emptied* (MongoDB holds none of its logs) when the archiver finished it (`ArchivedDay`),
  none of its parts is in MongoDB, and no log of it was stored after the archiver read it (a
  `LateWrite` later than the day's `exported_from`).

Its users:

- the hot source (`archive.hot`) reads only days not emptied (`emptied_days`), and counts the days
  the archiver touched from the logs, not the counters (`touched_days`);
- the admin's log list, which reads MongoDB only, says which days of its query have logs in parts that
  are not in MongoDB (`archived_days`, registered with `retrieval.hooks.register_archived_days`);
- intake, after storing logs, calls `retrieval.hooks.stored`, which `note_late_writes` here answers for
  days the archiver may have emptied already. Intake knows neither this rule nor HOT_RETENTION_DAYS.
"""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from archive.models import ArchivedDay, ArchivePart
from retrieval.models import LateWrite
from retrieval.query import LogQuery

# The parts whose logs MongoDB holds: not purged yet, or rehydrated.
IN_MONGODB = Q(purged__isnull=True) | Q(rehydrated_until__isnull=False)


def archive_before(now: datetime | None = None) -> date:
    """The first day that stays hot: days strictly before it are archived."""
    today = (now or timezone.now()).date()
    return today - timedelta(days=settings.HOT_RETENTION_DAYS)


def query_days(query: LogQuery) -> tuple[date, date]:
    """The first and last UTC day `query`'s half-open range touches."""
    return query.start.date(), (query.end - timedelta(microseconds=1)).date()


def emptied_days(first: date, last: date) -> set[date]:
    """The days in [first, last] that MongoDB holds no log of (as far as the ledger knows)."""
    archived = dict(ArchivedDay.objects.filter(day__range=(first, last)).values_list("day", "exported_from"))
    if not archived:
        return set()  # recent days, not archived: the usual search, one query
    late = dict(LateWrite.objects.filter(day__in=archived).values_list("day", "last_write"))
    in_hot = set(ArchivePart.objects.filter(day__in=archived).filter(IN_MONGODB).values_list("day", flat=True))
    return {
        day
        for day, exported_from in archived.items()
        if day not in in_hot and not (day in late and late[day] >= exported_from)
    }


def touched_days(first: date, last: date) -> set[date]:
    """The days in [first, last] the archiver has touched (a part recorded, or the day emptied): their logs
    leave MongoDB and come back (rehydration, late logs) without the histogram counters knowing."""
    touched = set(ArchivePart.objects.filter(day__range=(first, last)).values_list("day", flat=True))
    return touched | set(ArchivedDay.objects.filter(day__range=(first, last)).values_list("day", flat=True))


def archived_days(query: LogQuery) -> list[date]:
    """The days of `query` with logs of its users and levels in parts MongoDB does not hold (purged, not
    rehydrated), late logs or not: the admin's log list says they are in the archive."""
    parts = ArchivePart.objects.filter(day__range=query_days(query), level__in=query.levels).exclude(IN_MONGODB)
    if query.user_ids:
        parts = parts.filter(user_id__in=query.user_ids)
    return list(parts.order_by("day").values_list("day", flat=True).distinct())


def note_late_writes(documents: list[dict]) -> None:
    """Record, for each day of `documents` that the archiver may have emptied already, that MongoDB holds
    logs of it again: searches then read that day in MongoDB too (`emptied_days`).

    Days before `archive_before` are archived; that day too covers clocks that disagree. Late logs are
    rare, so this is usually no write at all. The time is the SQL server's, as the archiver's
    `ArchivedDay.exported_from` is: one clock, nothing to skew.
    """
    newest_archivable = archive_before()
    days = {document["timestamp"].date() for document in documents}
    for day in sorted(day for day in days if day <= newest_archivable):
        LateWrite.objects.update_or_create(day=day, defaults={"last_write": Now()})
