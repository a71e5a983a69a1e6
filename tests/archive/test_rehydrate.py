"""Rehydration: an archived day back in MongoDB for a while, counted once, never archived twice, then expired."""

import gzip
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.http import QueryDict
from django.utils import timezone

from access.scope import EVERY
from archive import rehydrate
from archive.archiver import archive_logs
from archive.models import ArchivePart
from archive.storage import archive_storage
from archive.tasks import expire_rehydrated_logs
from retrieval import hotstore, planner
from retrieval.filters import LogFilterSet

pytestmark = [
    pytest.mark.django_db(databases=["default", "logs"], transaction=True),
    pytest.mark.usefixtures("empty_cold_cache"),
]

DAY = date(2023, 8, 25)
START = datetime(2023, 8, 25, tzinfo=UTC)


@pytest.fixture
def archived(logs_db):
    """Two archived days, three users, two levels; MongoDB holds none of them afterwards."""
    documents = [
        {
            "timestamp": START + timedelta(days=n % 2, minutes=n),
            "user_id": 1 + n % 3,
            "level": ("info", "error")[n % 2 == 0 and n % 4 == 0],
            "message": f"Evaluated a model, Recall: 0.{n}",
            "logger": "demo.trainer",
            "context": {"run": n},
        }
        for n in range(300)
    ]
    hotstore.insert(documents)
    run = archive_logs(before=DAY + timedelta(days=2), trigger="test")
    assert run.status == "succeeded" and run.logs == 300
    assert logs_db.count_documents({}) == 0
    return documents


def search_ids(params: str) -> list[str]:
    filterset = LogFilterSet(QueryDict(params), scope=EVERY)
    assert filterset.is_valid(), filterset.form.errors
    q, rows, cursor = filterset.log_query(), [], None
    while True:
        page = planner.search(q, cursor)
        assert not page.partial
        rows += page.rows
        if not page.next_cursor:
            return rows
        cursor = page.next_cursor


def histogram_total(params: str) -> int:
    filterset = LogFilterSet(QueryDict(params), scope=EVERY)
    assert filterset.is_valid()
    return sum(planner.histogram(filterset.log_query()).counts.values())


def of_day(documents, user_id=None):
    return [d for d in documents if d["timestamp"].date() == DAY and user_id in (None, d["user_id"])]


def test_rehydrate_query_expire(archived, logs_db):
    day_logs = of_day(archived)
    params = "date=2023-08-25&page_size=40"
    before = search_ids(params)

    call_command("rehydrate_logs", "2023-08-25", "--hours", "2")

    assert logs_db.count_documents({}) == len(day_logs)
    assert logs_db.count_documents({"timestamp": {"$gte": START + timedelta(days=1)}}) == 0  # only that day
    stored = logs_db.find_one({"_id": day_logs[0]["_id"]})
    assert {k: v for k, v in stored.items() if k != "rehydrated_until"} == {
        **day_logs[0],
        "timestamp": day_logs[0]["timestamp"].replace(tzinfo=None),
    }
    during = search_ids(params)
    assert [r.id for r in during] == [r.id for r in before]  # counted once, same order
    assert {r.source for r in during} == {"hot"}
    assert histogram_total(params) == len(day_logs)
    assert all(p.rehydrated_until for p in ArchivePart.objects.filter(day=DAY))

    # The daily archive run leaves rehydrated logs alone: nothing uploaded twice, nothing deleted early.
    parts_before = ArchivePart.objects.count()
    run = archive_logs(before=DAY + timedelta(days=2), trigger="test")
    assert run.status == "succeeded" and run.logs == 0
    assert ArchivePart.objects.count() == parts_before
    assert logs_db.count_documents({}) == len(day_logs)

    # Not yet due: nothing expires.
    assert expire_rehydrated_logs() == 0
    assert rehydrate.expire(now=timezone.now() + timedelta(hours=3)) == len(day_logs)

    assert logs_db.count_documents({}) == 0
    assert not ArchivePart.objects.filter(rehydrated_until__isnull=False).exists()
    after = search_ids(params)
    assert [r.id for r in after] == [r.id for r in before] and {r.source for r in after} == {"cold"}


def test_one_users_part_and_rehydrating_twice_inserts_each_log_once(archived, logs_db):
    call_command("rehydrate_logs", "2023-08-25", "--user", "2", "--hours", "1")
    call_command("rehydrate_logs", "2023-08-25", "--user", "2", "--hours", "5")

    mine = of_day(archived, user_id=2)
    assert logs_db.count_documents({}) == len(mine)
    assert set(logs_db.distinct("user_id")) == {2}
    # The second call extended the time of every one of them.
    assert rehydrate.expire(now=timezone.now() + timedelta(hours=2)) == 0
    assert logs_db.count_documents({}) == len(mine)
    assert histogram_total("date=2023-08-25") == len(of_day(archived))


def test_a_log_still_in_mongodb_is_not_inserted_twice_nor_expired(archived, logs_db):
    # The archive window: a log archived and still hot (not yet purged). Rehydration keeps that copy as it is.
    original = of_day(archived, user_id=1)[0]
    hotstore.insert([original])

    call_command("rehydrate_logs", "2023-08-25", "--user", "1")

    assert logs_db.count_documents({"_id": original["_id"]}) == 1
    assert "rehydrated_until" not in logs_db.find_one({"_id": original["_id"]})
    rehydrate.expire(now=timezone.now() + timedelta(days=2))
    assert logs_db.count_documents({}) == 1


def test_command_errors_are_clear(archived):
    with pytest.raises(CommandError, match="Nothing archived on 2023-08-20"):
        call_command("rehydrate_logs", "2023-08-20")
    with pytest.raises(CommandError, match="--hours"):
        call_command("rehydrate_logs", "2023-08-25", "--hours", "0")


def test_admin_action_rehydrates_the_selected_parts(archived, logs_db, client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    parts = ArchivePart.objects.filter(day=DAY, user_id=3)

    response = client.post(
        "/admin/archive/archivepart/",
        {"action": "rehydrate_parts", "_selected_action": [str(p.pk) for p in parts]},
        follow=True,
    )

    assert response.status_code == 200
    assert b"Loaded" in response.content and b"back into MongoDB" in response.content
    assert logs_db.count_documents({}) == len(of_day(archived, user_id=3))
    assert Counter(d["user_id"] for d in logs_db.find({}, {"user_id": 1})) == {3: len(of_day(archived, user_id=3))}


def test_admin_action_reports_storage_failure(archived, logs_db, client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    part = ArchivePart.objects.filter(day=DAY).first()
    archive_storage().delete(part.key)

    response = client.post(
        "/admin/archive/archivepart/", {"action": "rehydrate_parts", "_selected_action": [str(part.pk)]}, follow=True
    )

    assert response.status_code == 200
    assert b"Object storage could not be read" in response.content


def test_rehydrated_logs_are_plain_json_in_the_archive_still(archived):
    # Rehydration reads, never rewrites, the archive.
    call_command("rehydrate_logs", "2023-08-25")
    for part in ArchivePart.objects.filter(day=DAY):
        with archive_storage().open(part.key, "rb") as stored:
            lines = gzip.decompress(stored.read()).splitlines()
        assert len(lines) == part.count
        assert all("rehydrated_until" not in json.loads(line) for line in lines)


def test_a_late_log_on_a_rehydrated_day_is_archived_alone(archived, logs_db):
    call_command("rehydrate_logs", "2023-08-25")
    rehydrated = logs_db.count_documents({})
    late = {"timestamp": START + timedelta(hours=23), "user_id": 9, "level": "error", "message": "late arrival"}
    hotstore.insert([late])

    run = archive_logs(before=DAY + timedelta(days=2), trigger="test")

    assert run.status == "succeeded" and run.logs == 1, run.error
    assert logs_db.count_documents({}) == rehydrated  # the late log moved to the archive, the rehydrated stayed
    assert logs_db.count_documents({"rehydrated_until": {"$exists": False}}) == 0
    assert ArchivePart.objects.get(day=DAY, user_id=9).count == 1
    assert len(search_ids("date=2023-08-25&page_size=1000")) == len(of_day(archived)) + 1
