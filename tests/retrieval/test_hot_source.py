"""The hot source: MongoDB is asked only for the days it may hold (a late log in an archived day is
still found), and within a deadline."""

import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock

import pytest
from django.db import DatabaseError, OperationalError
from django.utils import timezone

from access.scope import EVERY
from archive import archiver, hot
from archive.archiver import archive_logs
from archive.models import ArchivedDay, ArchivePart
from archive.rehydrate import rehydrate
from intake.ingest import IngestUnavailable, ingest_logs
from retrieval import planner
from retrieval.models import LateWrite
from retrieval.query import ALL_LEVELS, LogQuery
from tests.archive_support import BEFORE, DAYS, insert_demo_logs
from tests.faults import closed_port_uri, hung_mongodb, logs_database_at

pytestmark = [pytest.mark.django_db(databases=["default", "logs"]), pytest.mark.usefixtures("empty_archive")]


def day_query(day, **fields) -> LogQuery:
    start = datetime.combine(day, clock.min, tzinfo=UTC)
    return LogQuery((), start, start + timedelta(days=1), ALL_LEVELS, limit=1000, **fields)


def late_record(day, message: str) -> dict:
    return {"timestamp": f"{day}T12:00:00Z", "user_id": 4, "level": "error", "message": message}


def test_an_emptied_day_is_not_read_in_mongodb_and_all_its_logs_come_from_the_archive(logs_db):
    documents = insert_demo_logs(days=DAYS[:2], per_day=60)
    archive_logs(before=BEFORE)
    query = day_query(DAYS[0])

    assert hot.hot_part(query) is None
    # MongoDB down changes nothing for that day: it is not asked.
    with logs_database_at(closed_port_uri(), serverSelectionTimeoutMS=300):
        page = planner.search(query)
        histogram = planner.histogram(query)
    assert not page.partial and not histogram.partial
    expected = sorted(str(d["_id"]) for d in documents if d["timestamp"].date() == DAYS[0])
    assert sorted(row.id for row in page.rows) == expected
    assert {row.source for row in page.rows} == {"cold"}
    assert sum(histogram.counts.values()) == len(expected)


def test_a_range_reads_mongodb_only_from_the_first_day_it_may_hold(logs_db):
    insert_demo_logs(days=DAYS[:1], per_day=30)
    archive_logs(before=BEFORE)
    start = datetime.combine(DAYS[0], clock.min, tzinfo=UTC)
    query = LogQuery((), start, start + timedelta(days=3), ALL_LEVELS)

    narrowed = hot.hot_part(query)

    assert narrowed is not None and narrowed.read_range == (start + timedelta(days=1), query.end)
    assert (narrowed.start, narrowed.end) == (query.start, query.end)  # buckets and cursors keep the range
    assert narrowed.mongo_filter()["timestamp"] == {"$gte": start + timedelta(days=1), "$lt": query.end}


def test_a_late_log_for_an_archived_day_is_found_before_and_after_the_next_run(logs_db, settings):
    settings.HOT_RETENTION_DAYS = 1
    insert_demo_logs(days=DAYS[:1], per_day=40)
    archive_logs(before=BEFORE)
    assert hot.hot_part(day_query(DAYS[0])) is None

    result = ingest_logs([late_record(DAYS[0], "arrived a year late")], scope=EVERY)

    assert result.inserted == 1
    assert LateWrite.objects.get(day=DAYS[0]).last_write >= ArchivedDay.objects.get(day=DAYS[0]).exported_from
    page = planner.search(day_query(DAYS[0], keyword="a year late"))
    assert [(row.message, row.source) for row in page.rows] == [("arrived a year late", "hot")]

    archive_logs(before=BEFORE)  # the late log goes into a part of its own and leaves MongoDB
    assert logs_db.count_documents({}) == 0
    assert hot.hot_part(day_query(DAYS[0])) is None
    page = planner.search(day_query(DAYS[0], keyword="a year late"))
    assert [(row.message, row.source) for row in page.rows] == [("arrived a year late", "cold")]


def test_a_log_sent_while_the_day_is_archived_is_found_after_the_run(logs_db, settings, monkeypatch):
    """Sent after the export read MongoDB: not in this run's parts, so not purged; still found."""
    settings.HOT_RETENTION_DAYS = 1
    insert_demo_logs(days=DAYS[:1], per_day=40)
    upload_parts = archiver.upload_parts

    def a_log_arrives_then_upload(*args, **kwargs):
        ingest_logs([late_record(DAYS[0], "sent during the run")], scope=EVERY)
        return upload_parts(*args, **kwargs)

    monkeypatch.setattr(archiver, "upload_parts", a_log_arrives_then_upload)
    archive_logs(before=BEFORE)

    assert [d["message"] for d in logs_db.find()] == ["sent during the run"]
    assert hot.hot_part(day_query(DAYS[0])) is not None
    page = planner.search(day_query(DAYS[0], keyword="during the run"))
    assert [(row.message, row.source) for row in page.rows] == [("sent during the run", "hot")]


def test_logs_for_recent_days_write_no_marker(logs_db):
    ingest_logs(
        [late_record(timezone.now().date(), "today"), late_record(timezone.now().date(), "today again")], scope=EVERY
    )

    assert not LateWrite.objects.exists()


def test_a_rehydrated_day_is_read_in_mongodb_again(logs_db):
    insert_demo_logs(days=DAYS[:1], per_day=30)
    archive_logs(before=BEFORE)
    assert hot.hot_part(day_query(DAYS[0])) is None

    rehydrate(ArchivePart.objects.filter(day=DAYS[0]), hours=1)

    assert hot.hot_part(day_query(DAYS[0])) == day_query(DAYS[0])
    page = planner.search(day_query(DAYS[0]))
    assert len(page.rows) == 30 and {row.source for row in page.rows} == {"hot"}


def test_without_the_ledger_the_whole_range_is_read_in_mongodb(logs_db, monkeypatch):
    insert_demo_logs(days=DAYS[:1], per_day=30)
    archive_logs(before=BEFORE)

    def ledger_down(*args, **kwargs):
        raise DatabaseError("the SQL database went away")  # a real outage cannot be started on cue

    monkeypatch.setattr(hot, "emptied_days", ledger_down)
    assert hot.hot_part(day_query(DAYS[0])) == day_query(DAYS[0])


def test_a_search_mongodb_does_not_answer_in_time_comes_back_partial_saying_so(logs_db, settings, make_log):
    settings.SEARCH_TIMEOUT_SECONDS = 1
    make_log(message="hot and unreachable")
    end = timezone.now()
    query = LogQuery((), end - timedelta(hours=1), end, ALL_LEVELS)
    with hung_mongodb():
        started = time.monotonic()
        page = planner.search(query)
        histogram = planner.histogram(query)
        elapsed = time.monotonic() - started

    # Generous for a busy machine, and short of the two default 10 s deadlines (SEARCH_TIMEOUT_SECONDS).
    assert elapsed < 15, f"the page and the histogram with 1 s deadlines took {elapsed:.1f} s against a hung MongoDB"
    assert page.partial and page.next_cursor is None and page.rows == []
    assert page.sources["hot"].startswith("unavailable: MongoDB did not answer within 1 s; narrow the search")
    assert histogram.partial and "within 1 s" in histogram.sources["hot"]


def test_a_late_log_whose_day_cannot_be_noted_is_not_acknowledged_and_the_resend_notes_it(
    logs_db, settings, monkeypatch
):
    settings.HOT_RETENTION_DAYS = 1
    insert_demo_logs(days=DAYS[:1], per_day=20)
    archive_logs(before=BEFORE)
    batch = [late_record(DAYS[0], "late, and the ledger is down")]

    def sql_refuses(*args, **kwargs):
        raise OperationalError("the SQL database went away")  # a real outage cannot be started on cue

    monkeypatch.setattr(LateWrite.objects, "update_or_create", sql_refuses)
    with pytest.raises(IngestUnavailable, match="SQL database did not confirm"):
        ingest_logs(batch, scope=EVERY)
    monkeypatch.undo()

    again = ingest_logs(batch, scope=EVERY)  # the sender re-sends, as the 503 says
    assert (again.inserted, again.duplicates) == (0, 1)
    assert LateWrite.objects.filter(day=DAYS[0]).exists()
    page = planner.search(day_query(DAYS[0], keyword="ledger is down"))
    assert [(row.message, row.source) for row in page.rows] == [("late, and the ledger is down", "hot")]
