"""FerretDB on PostgreSQL: the app's GIN index on the logs table (logsite.mongodb.ferretdb).

It is made with the collection (tests re-create it, as `migrate` does the first time) and by
`migrate --database logs`; a second start changes nothing. On real MongoDB there is nothing to do.
"""

import psycopg
import pytest
from django.core.management import call_command
from django.db import connections

from logsite.mongodb.ferretdb import ensure_gin_index
from retrieval.models import LogEntry

pytestmark = pytest.mark.django_db(databases=["default", "logs"])


def table_indexes(url: str, schema: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename LIKE 'logs%%'"
            " ORDER BY indexname",
            (schema,),
        ).fetchall()
    return [(name, definition) for name, definition in rows]


def test_the_logs_table_has_one_gin_index_and_a_second_start_changes_nothing(logs_db, settings) -> None:
    database = connections["logs"].settings_dict["NAME"]
    if not settings.FERRETDB_POSTGRESQL_URL:
        # Real MongoDB, or FerretDB on SQLite: nothing to do.
        assert ensure_gin_index(database, "logs", LogEntry.ferretdb_gin_fields) is None
        return
    made_with_the_collection = table_indexes(settings.FERRETDB_POSTGRESQL_URL, database)
    gin = [definition for _, definition in made_with_the_collection if "USING gin" in definition]
    assert len(gin) == 1
    for field in ("user_id", "level", "hour", "day"):
        assert f"(_jsonb -> '{field}'::text)" in gin[0]

    call_command("migrate", database="logs", verbosity=0)
    assert ensure_gin_index(database, "logs", LogEntry.ferretdb_gin_fields) is not None
    assert table_indexes(settings.FERRETDB_POSTGRESQL_URL, database) == made_with_the_collection


def test_migrate_adds_the_gin_index_to_a_collection_made_without_it(logs_db, settings) -> None:
    if not settings.FERRETDB_POSTGRESQL_URL:
        return  # nothing FerretDB-specific to make on this server
    database = connections["logs"].settings_dict["NAME"]
    logs_db.drop()
    logs_db.insert_one({"user_id": 1})  # FerretDB makes the collection's table, with no index of ours
    assert not [d for _, d in table_indexes(settings.FERRETDB_POSTGRESQL_URL, database) if "USING gin" in d]

    call_command("migrate", database="logs", verbosity=0)

    assert [d for _, d in table_indexes(settings.FERRETDB_POSTGRESQL_URL, database) if "USING gin" in d]
