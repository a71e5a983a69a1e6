"""The per-day lock (SQL row with an expiry) and the Celery task's retry on storage failure."""

import threading
from datetime import date, timedelta

import pytest
from django.db import connections
from django.utils import timezone

from archive import locks
from archive.models import ArchivePart, ArchiveRun, DayLock
from archive.tasks import archive_old_logs
from tests.archive_support import DAYS, insert_demo_logs

DAY = date(2023, 8, 25)


@pytest.mark.django_db
def test_a_held_lock_refuses_others_until_released():
    assert locks.acquire(DAY, "a")
    assert not locks.acquire(DAY, "b")
    assert locks.acquire(DAY.replace(day=26), "b")  # other days are free
    locks.release(DAY, "b")  # not b's: no effect
    assert not locks.acquire(DAY, "b")
    locks.release(DAY, "a")
    assert locks.acquire(DAY, "b")


@pytest.mark.django_db
def test_a_dead_holders_lock_lapses_and_the_old_holder_cannot_renew_it():
    assert locks.acquire(DAY, "dead")
    locks.renew(DAY, "dead")
    DayLock.objects.update(expires=timezone.now() - timedelta(seconds=1))

    assert locks.acquire(DAY, "alive")
    with pytest.raises(locks.LockLost):
        locks.renew(DAY, "dead")
    locks.renew(DAY, "alive")
    assert DayLock.objects.get().holder == "alive"


@pytest.mark.django_db(transaction=True)
def test_of_many_simultaneous_takers_exactly_one_wins():
    start, results = threading.Barrier(6), []

    def take(name):
        start.wait()
        try:
            results.append(locks.acquire(DAY, name))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=take, args=(f"taker {n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]


@pytest.mark.django_db(databases=["default", "logs"])
def test_the_task_retries_while_storage_is_down_and_deletes_nothing(logs_db, settings):
    insert_demo_logs(days=DAYS[:1], per_day=30)
    archive = settings.STORAGES["archive"]
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {**archive, "OPTIONS": {**archive["OPTIONS"], "endpoint_url": "http://127.0.0.1:9"}},
    }

    result = archive_old_logs.apply(kwargs={"trigger": "test"})  # eager: retries run at once

    assert result.failed() and "object storage failed" in str(result.result)
    failed = ArchiveRun.objects.filter(status=ArchiveRun.Status.FAILED)
    assert failed.count() == archive_old_logs.max_retries + 1
    assert all("object storage failed" in run.error for run in failed)
    assert logs_db.count_documents({}) == 30 and not ArchivePart.objects.exists()
    assert archive_old_logs.retry_backoff and archive_old_logs.retry_backoff_max == 3600
