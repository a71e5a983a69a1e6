"""What the app does differently when its MongoDB is FerretDB 1.24 (docs/ferretdb.md).

- `server_is_ferretdb`: one answer to "is this server FerretDB?" (buildInfo's `ferretdbVersion`).
- `ensure_gin_index`: on FerretDB's PostgreSQL handler, a GIN index over a collection's
  equality fields on FerretDB's backing table. FerretDB pushes an equality down as
  `(_jsonb -> 'user_id') @> '4'`, which its own btree indexes cannot serve; a GIN index
  can (a Bitmap Index Scan). FerretDB does not know the index (it is not in its metadata),
  so it never lists or drops it; dropping the collection drops the table and the index.
"""

import hashlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql
from pymongo.collection import Collection

METADATA_TABLE = "_ferretdb_database_metadata"


def server_is_ferretdb(collection: Collection) -> bool:
    return "ferretdbVersion" in collection.database.client.admin.command("buildInfo")


def gin_index_name(table: str, purpose: str = "equalities", fields: Sequence[str] = ()) -> str:
    # The fields' digest is in the name: an index over other fields (an older release's) is another
    # index, which `ensure_gin_index` replaces.
    digest = hashlib.sha256(",".join(fields).encode()).hexdigest()[:8]
    return f"{table}_{purpose}_{digest}_gin"


def ensure_gin_index(database: str, collection: str, fields: Sequence[str], purpose: str = "equalities") -> str | None:
    """Create the GIN index over `fields` on the collection's table unless it exists, and drop the indexes
    of the same purpose over other fields; its name, or None.

    Nothing to do (None) without FERRETDB_POSTGRESQL_URL (real MongoDB, or FerretDB on SQLite)
    or before FerretDB has made the collection's table.
    """
    with _backing_table(database, collection) as found:
        if found is None:
            return None
        connection, table = found
        name = gin_index_name(table, purpose, fields)
        expressions = sql.SQL(", ").join(sql.SQL("(_jsonb -> {})").format(sql.Literal(field)) for field in fields)
        connection.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin ({})").format(
                sql.Identifier(name), sql.Identifier(database, table), expressions
            )
        )
        _drop_other_indexes(connection, database, table, purpose, keep=name)
        return name


def _drop_other_indexes(connection: psycopg.Connection, database: str, table: str, purpose: str, keep: str) -> None:
    """Drop this purpose's GIN indexes on `table` but `keep` (made over other fields, or before names had digests)."""
    ours = re.compile(rf"{re.escape(table)}_{re.escape(purpose)}(_[0-9a-f]{{8}})?_gin")
    names = connection.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s", (database, table)
    ).fetchall()
    for (index,) in names:
        if index != keep and ours.fullmatch(index):
            connection.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(database, index)))


def drop_gin_index(database: str, collection: str, purpose: str) -> None:
    """Drop the GIN indexes `ensure_gin_index(..., purpose)` made, if there are any."""
    with _backing_table(database, collection) as found:
        if found is not None:
            connection, table = found
            _drop_other_indexes(connection, database, table, purpose, keep="")


@contextmanager
def _backing_table(database: str, collection: str) -> Iterator[tuple[psycopg.Connection, str] | None]:
    """A connection to FerretDB's PostgreSQL and the collection's table; None when there is none."""
    url = settings.FERRETDB_POSTGRESQL_URL
    if not url:
        yield None
        return
    # FerretDB's PostgreSQL handler keeps each MongoDB database in the schema of the same name.
    with psycopg.connect(url, autocommit=True) as connection:
        try:
            found = connection.execute(
                sql.SQL("SELECT _jsonb ->> 'table' FROM {} WHERE _jsonb -> '_id' = to_jsonb(%s::text)").format(
                    sql.Identifier(database, METADATA_TABLE)
                ),
                (collection,),
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            found = None  # no collection in this database yet
        yield None if found is None else (connection, found[0])


# Updates per bulk_write. FerretDB 1.24 (PostgreSQL handler) took a new PostgreSQL connection for each
# update of one unordered bulk_write and never answered a bulk of 72 (a test's hang: 50 idle
# connections, the command waiting); bulks of this size answer. One round trip per chunk on MongoDB.
BULK_CHUNK = 16


def bulk_write_in_chunks(collection: Collection, operations: Sequence[Any]) -> int:
    """`collection.bulk_write(operations, ordered=False)` BULK_CHUNK operations at a time; documents modified."""
    modified = 0
    for at in range(0, len(operations), BULK_CHUNK):
        modified += collection.bulk_write(list(operations[at : at + BULK_CHUNK]), ordered=False).modified_count
    return modified
