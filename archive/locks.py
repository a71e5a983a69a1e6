"""Per-day locks in the SQL database, so that two archivers never work on the same day.

Why SQL and not Redis SET NX PX: the ledger the lock protects lives in SQL, so
both share one source of truth and one failure mode; the local Redis runs
without persistence (a restart would silently drop every lock), and a broker
outage should not be able to let two archivers in. A lock is a unique row with
an expiry: taking it is one atomic conditional UPDATE (steal an expired row) or
an INSERT that the unique constraint lets only one writer win. A holder that
dies stops renewing, and its lock lapses after `ARCHIVE_LOCK_SECONDS`.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from archive.models import DayLock

logger = logging.getLogger(__name__)


class LockLost(RuntimeError):
    """Our lock on a day lapsed and may now be someone else's: stop touching that day."""


def _expiry() -> datetime:
    return timezone.now() + timedelta(seconds=settings.ARCHIVE_LOCK_SECONDS)


def acquire(day: date, holder: str) -> bool:
    """Take the lock on `day` for `holder`; False if someone else holds a live lock."""
    if DayLock.objects.filter(day=day, expires__lt=timezone.now()).update(holder=holder, expires=_expiry()):
        return True
    try:
        with transaction.atomic():
            DayLock.objects.create(day=day, holder=holder, expires=_expiry())
    except IntegrityError:
        return False
    return True


def renew(day: date, holder: str) -> None:
    """Push the expiry forward; raise LockLost if the lock is no longer ours."""
    if not DayLock.objects.filter(day=day, holder=holder, expires__gte=timezone.now()).update(expires=_expiry()):
        raise LockLost(f"lost the archive lock on {day} (held longer than ARCHIVE_LOCK_SECONDS without renewal)")


def release(day: date, holder: str) -> None:
    DayLock.objects.filter(day=day, holder=holder).delete()


@contextmanager
def released_after(day: date, holder: str) -> Iterator[None]:
    """Release the lock on `day` when the block ends.

    If the block fails and the release fails too (the SQL database went away, say),
    the block's error is the one raised: the release's is logged, and the lock lapses
    by itself after ARCHIVE_LOCK_SECONDS.
    """
    try:
        yield
    except BaseException:
        try:
            release(day, holder)
        except Exception as exc:  # secondary to the error being raised
            logger.error("Could not release the archive lock on %s (%s: %s)", day, type(exc).__name__, exc)
        raise
    release(day, holder)
