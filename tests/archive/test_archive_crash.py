"""Crash safety: the archiver dies after each step in turn, or its worker is SIGKILLed; a re-run
leaves every original log in hot or cold storage exactly once."""

import os
import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from archive import archiver, layout, purge
from archive.archiver import archive_logs
from archive.models import ArchivePart, ArchiveRun, DayLock, PendingUpload
from devservices import traffic
from retrieval import hotstore
from tests.archive_support import (
    BEFORE,
    DAYS,
    archived_lines,
    assert_each_log_once,
    day_start,
    insert_demo_logs,
    start_worker,
    wait_for,
)

pytestmark = [pytest.mark.django_db(databases=["default", "logs"]), pytest.mark.usefixtures("empty_archive")]


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so no handler of the archiver sees it."""


def die_after(module, name, calls=1):
    """Wrap module.name so that the process 'dies' right after its `calls`-th call returns."""
    real = getattr(module, name)
    seen = {"calls": 0}

    def wrapper(*args, **kwargs):
        result = real(*args, **kwargs)
        seen["calls"] += 1
        if seen["calls"] >= calls:
            raise Killed(f"killed after {name}")
        return result

    return wrapper


# (step the run dies after, where to inject)
STEPS = {
    "export": (archiver, "export_day", 2),  # the second day's export: the first day is fully archived
    "upload": (archiver, "upload", 3),
    "verify": (archiver, "verify", 3),
    "ledger": (archiver, "record", 1),
    "manifest": (layout, "write_manifest", 1),
    "middle of the delete": (purge, "delete_window_of_ids", 2),
}


@pytest.mark.parametrize("step", list(STEPS))
def test_a_run_killed_after_any_step_is_finished_by_the_next_run(logs_db, settings, monkeypatch, step):
    settings.ARCHIVE_DELETE_BATCH = 50
    # Real shape: Zipf-skewed users interleaved in time, about a hundred (user, level) parts a day; 40 users,
    # not 300: every part is uploaded, verified and recorded twice (run and re-run), for each of the six steps,
    # and how many there are past a few does not change what a crash leaves (test_archive_real_shape has 300).
    originals = [
        document
        for number, day in enumerate(DAYS)
        for document in traffic.documents(
            400, day_start(day), day_start(day) + timedelta(days=1), users=40, seed=number
        )
    ]
    hotstore.insert(originals)
    module, name, calls = STEPS[step]
    monkeypatch.setattr(module, name, die_after(module, name, calls))

    with pytest.raises(Killed):
        archive_logs(before=BEFORE)

    # Nothing lost at the moment of death: each log is in MongoDB or in an object (maybe both).
    present = {str(document["_id"]) for document in logs_db.find({}, {"_id": 1})}
    present |= {line["_id"] for line in archived_lines()}
    assert present == {str(document["_id"]) for document in originals}
    assert ArchiveRun.objects.get().status == ArchiveRun.Status.RUNNING  # no handler ran: as if killed

    monkeypatch.undo()
    rerun = archive_logs(before=BEFORE)

    assert rerun.status == ArchiveRun.Status.SUCCEEDED
    assert assert_each_log_once(logs_db, originals) == (0, 1200)
    assert not PendingUpload.objects.exists() and not DayLock.objects.exists()
    assert not ArchivePart.objects.filter(purged__isnull=True).exists()
    assert sum(ArchivePart.objects.values_list("count", flat=True)) == 1200
    groups = {(document["timestamp"].date(), document["user_id"], document["level"]) for document in originals}
    assert ArchivePart.objects.count() == len(groups)  # one part per (day, user, level), the crash included


def test_a_killed_run_is_marked_failed_by_the_next_run_once_its_heartbeat_is_stale(logs_db, monkeypatch):
    insert_demo_logs(days=DAYS[:1], per_day=20)
    monkeypatch.setattr(archiver, "upload", die_after(archiver, "upload"))
    with pytest.raises(Killed):
        archive_logs(before=BEFORE)
    monkeypatch.undo()
    an_hour_ago = timezone.now() - timedelta(hours=1)
    ArchiveRun.objects.update(heartbeat=an_hour_ago)
    DayLock.objects.update(expires=an_hour_ago)

    archive_logs(before=BEFORE)

    dead = ArchiveRun.objects.earliest()
    assert dead.status == ArchiveRun.Status.FAILED and "no heartbeat" in dead.error


@pytest.mark.django_db(databases=["default", "logs"], transaction=True)
def test_sigkill_of_a_real_worker_in_the_middle_of_a_run(logs_db, settings):
    days = [DAYS[0].replace(day=day) for day in range(10, 18)]
    originals = insert_demo_logs(days=days, per_day=1000)
    # Short enough to wait out, long enough for a day's export on FerretDB between renewals.
    settings.ARCHIVE_LOCK_SECONDS = 15
    worker = start_worker(ARCHIVE_LOCK_SECONDS="15")
    try:
        from archive.tasks import archive_old_logs

        archive_old_logs.delay(trigger="test")
        # Kill it once a day is in the ledger and the run is still going.
        wait_for(lambda: ArchivePart.objects.exists(), what="the first recorded part")
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait()
    killed = ArchiveRun.objects.get()
    assert killed.status == ArchiveRun.Status.RUNNING and ArchivePart.objects.values("day").distinct().count() < 8

    wait_for(
        lambda: not DayLock.objects.filter(expires__gt=timezone.now()).exists(),
        timeout=30,
        what="the dead lock to lapse",
    )
    rerun = archive_logs(before=BEFORE, trigger="test")

    assert rerun.status == ArchiveRun.Status.SUCCEEDED
    killed.refresh_from_db()
    assert killed.status == ArchiveRun.Status.FAILED
    assert assert_each_log_once(logs_db, originals) == (0, 8 * 1000)
