"""`manage.py stamp_hot_buckets`: hot logs stored without buckets get them; killed midway, a re-run finishes;
logs that had buckets are left alone; once complete, the start-time check reads no log."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from devservices import traffic
from retrieval import bucket_backfill
from retrieval.buckets import hour_of, stamped
from retrieval.query import ALL_LEVELS, LogQuery
from retrieval.sources import HotSource
from tests.retrieval.test_ferretdb_indexes import table_indexes

pytestmark = pytest.mark.django_db(databases=["default", "logs"])

NOW = datetime.now(UTC).replace(microsecond=0)


class Killed(BaseException):
    """Stands for the process dying: no handler of the command sees it."""


def test_a_killed_backfill_is_finished_by_a_rerun_and_stamped_logs_are_left_alone(
    logs_db, settings, monkeypatch
) -> None:
    old = list(traffic.documents(2300, NOW - timedelta(days=3), NOW, seed=3))
    logs_db.insert_many(old)  # as stored before writers stamped buckets
    # Already stamped (by a writer): a wrong hour shows whether the backfill touched them.
    logs_db.insert_many(
        [{**d, "hour": -1, "day": -1} for d in stamped(traffic.documents(200, NOW - timedelta(days=1), NOW, seed=4))]
    )
    real_write, calls = bucket_backfill.write_batch, []

    def dies_after_two(collection, documents):
        calls.append(len(documents))
        written = real_write(collection, documents)
        if len(calls) == 2:
            raise Killed
        return written

    monkeypatch.setattr(bucket_backfill, "write_batch", dies_after_two)
    with pytest.raises(Killed):
        call_command("stamp_hot_buckets", "--if-needed", batch_size=500)
    assert logs_db.count_documents({"hour": {"$exists": True}, "day": {"$ne": -1}}) == 1000
    assert not bucket_backfill.completed(logs_db)

    monkeypatch.setattr(bucket_backfill, "write_batch", real_write)
    call_command("stamp_hot_buckets", "--if-needed", batch_size=500)

    for document in logs_db.find({}, {"timestamp": 1, "hour": 1, "day": 1}):
        assert document["hour"] in (hour_of(document["timestamp"]), -1)
    assert logs_db.count_documents({"hour": -1}) == 200
    assert logs_db.count_documents({"hour": {"$exists": False}}) == 0
    assert bucket_backfill.completed(logs_db)
    if settings.FERRETDB_POSTGRESQL_URL:  # the backfill's index on `_id` is gone with it
        assert not [
            name
            for name, _ in table_indexes(settings.FERRETDB_POSTGRESQL_URL, logs_db.database.name)
            if "backfill" in name
        ]

    # The bucket walk now finds the logs stored without buckets.
    settings.HOT_BUCKET_WALK = "on"
    query = LogQuery((), NOW - timedelta(days=4), NOW, ALL_LEVELS)
    # (The 200 marked with a wrong hour stay out of it: the backfill left them as their writer stamped them.)
    assert len(HotSource().fetch(query, None, 5000)) == 2300


def test_once_complete_the_start_check_does_nothing_more(logs_db, monkeypatch) -> None:
    call_command("stamp_hot_buckets", "--if-needed")
    assert bucket_backfill.completed(logs_db)
    logs_db.insert_one({"timestamp": NOW, "user_id": 1, "level": "info", "message": "unstamped"})
    monkeypatch.setattr(bucket_backfill, "backfill", lambda *args, **kwargs: pytest.fail("backfill ran again"))

    call_command("stamp_hot_buckets", "--if-needed")
