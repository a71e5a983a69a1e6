"""Expiring rehydrated logs in deletes FerretDB takes: at most ARCHIVE_DELETE_BATCH logs each (its PostgreSQL
handler sends one SQL parameter per deleted log and stops at 65,535; its SQLite handler at 32,766)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from archive import rehydrate
from archive.models import ArchivePart, ArchiveRun

pytestmark = pytest.mark.django_db(databases=["default", "logs"])

DAY = datetime(2023, 8, 25, tzinfo=UTC)
# More rehydrated logs than FerretDB's PostgreSQL handler takes parameters in one statement (65,535).
PAST_THE_LIMIT = 70_000


def log(n: int, at: datetime, **extra) -> dict:
    return {"timestamp": at, "user_id": n % 50, "level": "info", "message": f"Evaluated, Recall: 0.{n}", **extra}


def rehydrated_part(until: datetime) -> ArchivePart:
    run = ArchiveRun.objects.create(before=DAY.date(), status=ArchiveRun.Status.SUCCEEDED)
    return ArchivePart.objects.create(
        run=run,
        key="archive/date=2023-08-25/user_id=1/level=info/part-expiry.jsonl.gz",
        day=DAY.date(),
        user_id=1,
        level="info",
        count=1,
        raw_bytes=1,
        compressed_bytes=1,
        sha256="0" * 64,
        first_timestamp=DAY,
        last_timestamp=DAY,
        rehydrated_until=until,
    )


@pytest.mark.slow
def test_expiry_deletes_70000_rehydrated_logs_past_ferretdbs_parameter_limit_and_unmarks_their_parts(logs_db):
    due = timezone.now() - timedelta(hours=1)
    for start in range(0, PAST_THE_LIMIT, 10_000):
        batch = [
            log(n, DAY + timedelta(milliseconds=500 * n), rehydrated_until=due) for n in range(start, start + 10_000)
        ]
        logs_db.insert_many(batch, ordered=False)
    # Among them, logs that must stay: hot ones, and rehydrated ones not due yet.
    kept = [log(n, DAY + timedelta(hours=1, seconds=n)) for n in range(3)]
    kept += [log(n, DAY + timedelta(hours=2, seconds=n), rehydrated_until=due + timedelta(days=1)) for n in range(3)]
    logs_db.insert_many(kept)
    part = rehydrated_part(due)

    # One delete_many of all of them: "extended protocol limited to 65535 parameters", before.
    assert rehydrate.expire() == PAST_THE_LIMIT

    assert sorted(row["_id"] for row in logs_db.find()) == sorted(document["_id"] for document in kept)
    part.refresh_from_db()
    assert part.rehydrated_until is None


def test_each_expiry_delete_matches_at_most_the_batch_even_when_many_logs_share_a_millisecond(logs_db, settings):
    settings.ARCHIVE_DELETE_BATCH = 10
    due = timezone.now() - timedelta(hours=1)
    crowded = DAY + timedelta(hours=3)
    logs_db.insert_many(
        [log(n, DAY + timedelta(seconds=n // 3), rehydrated_until=due) for n in range(40)]  # ties of three
        + [log(n, crowded, rehydrated_until=due) for n in range(25)]  # more than a batch in one millisecond
        + [log(n, crowded + timedelta(seconds=n), rehydrated_until=due) for n in range(5)]
    )
    collection = logs_db

    deleted = []
    for match in rehydrate.expiry_batches(collection, due):
        matched = collection.count_documents(match)
        assert 0 < matched <= 10, match
        deleted.append(collection.delete_many(match).deleted_count)

    assert sum(deleted) == 70 and collection.count_documents({}) == 0
