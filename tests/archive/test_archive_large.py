"""A large day, archived completely, each log exactly once, with memory that does not grow with the day.

Flat memory is shown by comparison, not by a big day: a day of LOGS logs (ARCHIVE_LARGE_DAY_LOGS,
40,000 by default; 1,000,000 in the MongoDB CI workflow) and a day a fifth of its size are archived
one after the other, each after a warm-up day, with the sort's run size and the purge's window
scaled down with them, so that the large day spills dozens of sorted runs (exporter.SORT_RUN_BYTES)
and needs ten purge windows as a 300,000-log day does with the defaults. The large day's peak
Python allocations while it is read, sorted and written into parts (tracemalloc around export_day;
resident memory varies by tens of MB from run to run, and uploads and the id index have a fixed
cost of ~50 MB that hides a day of this size) may exceed the small day's by less than half of the
difference of their sizes: an exporter that held the day (or its lines) exceeds it by more than the
whole difference (checked with SORT_RUN_BYTES past the day's size). The purge holds 12 bytes a log
(purge.DayIds).

(On FerretDB every purge command scans the whole collection (docs/ferretdb.md): the old
300,000-log day took five minutes of a two-core CI machine, 1,000,000 about half an hour.)"""

import gzip
import itertools
import os
import tracemalloc
from collections import Counter
from datetime import date, timedelta
from unittest.mock import patch

import pytest
from django.test import override_settings

from archive import archiver, exporter
from archive.archiver import archive_logs
from archive.exporter import export_day
from archive.models import ArchivePart, ArchiveRun
from retrieval import hotstore
from retrieval.demo import generate_demo_logs
from tests.archive_support import archive_objects, clear_archive

WARM_UP_DAY, SMALL_DAY, DAY = date(2023, 8, 25), date(2023, 8, 26), date(2023, 8, 27)
LOGS = int(os.environ.get("ARCHIVE_LARGE_DAY_LOGS", "40000"))
SMALL_LOGS = LOGS // 5
# About 200 bytes a line: 40,000 logs are ~8 MB of lines, ~30 runs of 256 KiB (MAX_MERGE_FILES is 64).
SORT_RUN_BYTES = max(256 << 10, LOGS * 250 // 40)
DELETE_BATCH = min(30_000, LOGS // 10)


def archive_measured(day: date, count: int, seed: int) -> tuple[int, set[str], Counter]:
    """Insert `count` logs of `day`, archive it; returns (peak of Python's allocations in kB while exporting,
    the ids inserted, how often each id is in the day's stored parts)."""
    inserted = set()
    documents = generate_demo_logs([day], count, seed=seed)
    while batch := list(itertools.islice(documents, 10_000)):
        hotstore.insert(batch)
        inserted.update(str(document["_id"]) for document in batch)
    del documents, batch
    peaks = []

    def export_measured(*args, **kwargs):
        """The real export, with Python's allocations traced (resident memory varies by tens of MB per run)."""
        tracemalloc.start()
        try:
            return export_day(*args, **kwargs)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1] // 1024)  # the peak since start, in kB
            tracemalloc.stop()

    with patch.object(archiver, "export_day", export_measured):
        run = archive_logs(before=day + timedelta(days=1))
    (grown,) = peaks

    assert run.status == ArchiveRun.Status.SUCCEEDED and run.logs == count and run.days == 1, run.error
    archived: Counter = Counter()
    for key, body in archive_objects().items():
        if key.endswith(".jsonl.gz") and f"/date={day.isoformat()}/" in key:
            archived.update(line[8:32].decode() for line in gzip.decompress(body).splitlines())
    return grown, inserted, archived


def day_bytes(day: date) -> int:
    parts = (
        body for key, body in archive_objects().items() if f"/date={day.isoformat()}/" in key and key.endswith(".gz")
    )
    return sum(len(gzip.decompress(body)) for body in parts)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.django_db(databases=["default", "logs"])
def test_a_large_day_is_archived_once_with_memory_that_does_not_grow_with_the_day(logs_db, monkeypatch):
    clear_archive()
    monkeypatch.setattr(exporter, "SORT_RUN_BYTES", SORT_RUN_BYTES)
    spilled = []
    write_run = exporter._write_run
    monkeypatch.setattr(exporter, "_write_run", lambda *args: spilled.append(1) or write_run(*args))
    with override_settings(ARCHIVE_DELETE_BATCH=DELETE_BATCH):
        archive_measured(WARM_UP_DAY, 500, seed=3)  # first-use allocations (clients, threads) land here
        small_grown, _, _ = archive_measured(SMALL_DAY, SMALL_LOGS, seed=4)
        spilled.clear()
        grown, inserted, archived = archive_measured(DAY, LOGS, seed=5)

    assert logs_db.count_documents({}) == 0
    assert sum(archived.values()) == LOGS and archived.keys() == inserted  # each log once
    assert sum(ArchivePart.objects.filter(day=DAY).values_list("count", flat=True)) == LOGS
    if not exporter.sorts_on_server(logs_db):
        assert len(spilled) >= 10, "the large day must spill several sorted runs"
    difference_kb = (day_bytes(DAY) - day_bytes(SMALL_DAY)) // 1024
    assert grown - small_grown < difference_kb / 2, (
        f"exporting {LOGS} logs allocated at most {grown} kB at once, {SMALL_LOGS} logs by {small_grown} kB: "
        f"more than half of the {difference_kb} kB the larger day's lines add"
    )
    clear_archive()
