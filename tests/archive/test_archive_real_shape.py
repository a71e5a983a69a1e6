"""The archive at the shape of a real deployment: hundreds to thousands of user ids (Zipf-skewed,
interleaved in time), senders that retry, late logs with their own ids from the past. Logs are
sent through POST /api/v1/logs as programs send them; the archive is read back with gzip + json."""

import os
import resource
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from archive import hot
from archive.archiver import archive_logs
from archive.models import ArchivePart, ArchiveRun
from devservices import traffic
from retrieval import hotstore, planner
from retrieval.query import ALL_LEVELS, LogQuery
from tests.archive_support import archived_lines, assert_each_log_once

pytestmark = [pytest.mark.django_db(databases=["default", "logs"]), pytest.mark.usefixtures("empty_archive")]

DAY = date(2023, 8, 27)
START = datetime(2023, 8, 27, tzinfo=UTC)
BEFORE = DAY + timedelta(days=1)


def send(api, documents: list[dict], batch_size: int = 2000, resend_fraction: float = 0.0) -> Counter:
    """POST the documents as records in batches (some sent twice); returns the summed answers."""
    answers: Counter = Counter()
    sent = traffic.with_resends(list(traffic.batches(traffic.records(documents), batch_size)), resend_fraction)
    for batch in sent:
        response = api.post("/api/v1/logs", {"logs": batch}, format="json")
        assert response.status_code == 201, response.content[:500]
        answers.update(inserted=response.json()["inserted"], duplicates=response.json()["duplicates"])
    return answers


def parts_per_group(day: date = DAY) -> float:
    parts = ArchivePart.objects.filter(day=day)
    return parts.count() / len({(part.user_id, part.level) for part in parts})


def test_a_day_of_300_skewed_users_with_retries_is_archived_in_one_part_per_user_and_level(logs_db, api):
    documents = list(traffic.documents(20_000, START, START + timedelta(days=1), users=300, seed=3))
    answers = send(api, documents, resend_fraction=0.2)
    assert answers["inserted"] == 20_000 and answers["duplicates"] == 2 * 2000  # 2 of 10 batches sent twice

    run = archive_logs(before=BEFORE)

    assert run.status == ArchiveRun.Status.SUCCEEDED and run.logs == 20_000
    groups = {(d["user_id"], d["level"]) for d in documents}
    assert len(groups) > 500 and ArchivePart.objects.count() == len(groups)
    assert parts_per_group() == 1.0
    assert assert_each_log_once(logs_db, documents) == (0, 20_000)


def test_a_batch_resent_after_its_day_was_archived_is_answered_as_duplicates_and_stored_nowhere(logs_db, api):
    documents = list(traffic.documents(3000, START, START + timedelta(days=1), users=300, seed=4))
    send(api, documents)
    archive_logs(before=BEFORE)
    parts_before = ArchivePart.objects.count()

    again = send(api, documents)
    archive_logs(before=BEFORE)

    assert again == Counter(inserted=0, duplicates=3000)
    assert logs_db.count_documents({}) == 0 and ArchivePart.objects.count() == parts_before
    assert assert_each_log_once(logs_db, documents) == (0, 3000)


def test_an_archived_log_cannot_be_overwritten_by_posting_its_id_with_a_new_message(logs_db, api):
    documents = list(traffic.documents(500, START, START + timedelta(days=1), users=300, seed=5))
    send(api, documents)
    archive_logs(before=BEFORE)
    forged = {**next(traffic.records(documents[:1])), "message": "overwritten"}

    response = api.post("/api/v1/logs", {"logs": [forged]}, format="json")

    assert response.status_code == 201 and response.json() == {"inserted": 0, "duplicates": 1, "ids": [forged["id"]]}
    assert logs_db.count_documents({}) == 0
    assert assert_each_log_once(logs_db, documents) == (0, 500)


def test_a_hot_copy_of_an_archived_id_that_raced_the_ingest_check_is_dropped_not_archived_twice(logs_db, api):
    documents = list(traffic.documents(500, START, START + timedelta(days=1), users=300, seed=6))
    send(api, documents)
    archive_logs(before=BEFORE)
    # As if the ingest check ran just before the archiver recorded the part and the insert just after the purge.
    hotstore.insert([{**documents[7], "message": "a second copy"}])

    run = archive_logs(before=BEFORE)

    assert run.status == ArchiveRun.Status.SUCCEEDED
    assert logs_db.count_documents({}) == 0 and ArchivePart.objects.filter(run=run).count() == 0
    assert assert_each_log_once(logs_db, documents) == (0, 500)


def test_late_logs_with_sender_ids_from_the_past_go_into_one_new_part_per_group(logs_db, api):
    documents = list(traffic.documents(4000, START, START + timedelta(days=1), users=300, seed=7))
    send(api, documents)
    archive_logs(before=BEFORE)
    late = traffic.late_documents(600, DAY, users=300, seed=7)
    assert send(api, late, batch_size=200, resend_fraction=0.5)["inserted"] == 600

    second = archive_logs(before=BEFORE)

    late_groups = {(d["user_id"], d["level"]) for d in late}
    assert ArchivePart.objects.filter(run=second).count() == len(late_groups)
    assert assert_each_log_once(logs_db, documents + late) == (0, 4600)


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_ten_thousand_user_level_groups_archive_under_a_small_open_file_limit(logs_db, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    settings.ARCHIVE_STORAGE = "file"
    # 2,000 users, every level for each: 10,000 (user, level) groups in one day, interleaved in time.
    documents = [
        {
            "timestamp": START + timedelta(milliseconds=37 * n),
            "user_id": 1 + n % 2000,
            "level": ("debug", "info", "warning", "error", "critical")[n // 2000 % 5],
            "message": f"step {n} loss {n % 97 / 100}",
        }
        for n in range(10_000)
    ]
    hotstore.insert(documents)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Room for the sockets and database files already open, and 64 more: one open file per group would fail.
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(open_files() + 64, hard), hard))
    try:
        run = archive_logs(before=BEFORE)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    assert run.status == ArchiveRun.Status.SUCCEEDED and run.logs == 10_000
    assert ArchivePart.objects.count() == 10_000 and parts_per_group() == 1.0
    assert Counter(line["_id"] for line in archived_lines()) == Counter(str(d["_id"]) for d in documents)


def test_late_logs_of_300_users_sent_with_retries_are_found_once_before_and_after_the_next_run(logs_db, api):
    documents = list(traffic.documents(3000, START, START + timedelta(days=1), users=300, seed=8))
    send(api, documents)
    archive_logs(before=BEFORE)
    day = LogQuery((), START, START + timedelta(days=1), ALL_LEVELS)
    assert hot.hot_part(day) is None  # emptied: MongoDB is not asked for the day
    late = traffic.late_documents(600, DAY, users=300, seed=8)
    assert send(api, late, batch_size=200, resend_fraction=0.5)["inserted"] == 600

    # Every log of the day once, paged across hot (the late ones) and cold (the rest).
    rows = list(planner.iter_all(day))
    assert Counter(row.id for row in rows) == Counter(str(d["_id"]) for d in documents + late)
    assert {row.id for row in rows if row.source == "hot"} == {str(d["_id"]) for d in late}

    archive_logs(before=BEFORE)
    assert hot.hot_part(day) is None
    rows = list(planner.iter_all(day))
    assert Counter(row.id for row in rows) == Counter(str(d["_id"]) for d in documents + late)
    assert {row.source for row in rows} == {"cold"}
