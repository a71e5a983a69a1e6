from datetime import UTC, datetime

import pytest
from bson import ObjectId
from django.db import connections, router

from retrieval.models import Level, LogEntry


def test_router_sends_logs_to_mongodb_and_the_rest_to_sql():
    from django.contrib.auth.models import User

    assert router.db_for_read(LogEntry) == "logs"
    assert router.db_for_write(LogEntry) == "logs"
    assert router.db_for_read(User) == "default"
    assert router.allow_migrate("logs", "retrieval", model_name="logentry")
    assert not router.allow_migrate("default", "retrieval", model_name="logentry")
    assert not router.allow_migrate("logs", "auth", model_name="user")


def test_log_entry_round_trips_through_the_orm(logs_db):
    stamp = datetime(2023, 8, 27, 12, 30, 15, 123000, tzinfo=UTC)
    created = LogEntry.objects.create(
        timestamp=stamp, user_id=4, level=Level.ERROR, message="Validated a new model, ligula.", context={"run": "r1"}
    )
    assert isinstance(created.pk, ObjectId)

    raw = logs_db.find_one({"_id": created.pk})
    assert raw["user_id"] == 4 and raw["level"] == "error" and raw["context"] == {"run": "r1"}

    loaded = LogEntry.objects.get(pk=created.pk)
    assert loaded.timestamp == stamp
    assert loaded.message == "Validated a new model, ligula."
    assert list(LogEntry.objects.filter(user_id=4, level="error").values_list("pk", flat=True)) == [created.pk]


@pytest.mark.django_db(databases=["default", "logs"])
def test_migrations_match_the_models():
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_indexes_for_the_search_shape_and_the_archiver_exist(logs_db):
    keys = {tuple(info["key"]) for info in logs_db.index_information().values()}
    assert (("user_id", 1), ("level", 1), ("timestamp", 1), ("_id", 1)) in keys
    assert (("timestamp", 1), ("_id", 1)) in keys


def test_sql_database_holds_no_log_collection(logs_db):
    assert "logs" not in connections["default"].introspection.table_names()


@pytest.mark.parametrize(
    ("minimum", "expected"),
    [("debug", ["debug", "info", "warning", "error", "critical"]), ("warning", ["warning", "error", "critical"])],
)
def test_level_at_least_lists_the_levels_as_severe_or_more(minimum, expected):
    assert Level.at_least(minimum) == expected
