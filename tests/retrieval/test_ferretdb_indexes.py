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
    for field in ("user_id", "level", "hour", "day", "tick", "ahead"):
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


def test_migrate_replaces_a_gin_index_over_other_fields_with_the_current_one(logs_db, settings) -> None:
    """An upgrade that adds a bucket field: the older release's index (named without a digest) goes."""
    if not settings.FERRETDB_POSTGRESQL_URL:
        return  # nothing FerretDB-specific to make on this server
    database = connections["logs"].settings_dict["NAME"]
    logs_db.drop()
    logs_db.insert_one({"user_id": 1})
    with psycopg.connect(settings.FERRETDB_POSTGRESQL_URL, autocommit=True) as connection:
        table = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE 'logs%%'", (database,)
        ).fetchone()[0]
        connection.execute(
            f'CREATE INDEX "{table}_equalities_gin" ON "{database}"."{table}" USING gin ((_jsonb -> \'user_id\'))'
        )

    call_command("migrate", database="logs", verbosity=0)

    gin = [(n, d) for n, d in table_indexes(settings.FERRETDB_POSTGRESQL_URL, database) if "USING gin" in d]
    assert len(gin) == 1 and gin[0][0] != f"{table}_equalities_gin", gin
    assert "(_jsonb -> 'tick'::text)" in gin[0][1]
