"""Set `hour` and `day` (retrieval.buckets) on hot logs stored before every writer stamped them.

The bucket walk (retrieval.sources.BucketWalk) cannot see a log without them, so this runs
once after an upgrade (`manage.py stamp_hot_buckets`; `make run` runs it at start) and
records that it finished in MONGODB's `MARKER_COLLECTION`, after which the start-time check
is one `find_one` by `_id` instead of a scan (`{"hour": {"$exists": false}}` is not pushed
down on FerretDB: it reads every log).

Safe to kill and to repeat: it lists the logs that still lack buckets (ids and times, to a
temporary file: memory bounded) and sets each one's buckets from its own timestamp, by `_id`,
BATCH per `bulk_write`; a re-run finds only what is left. On FerretDB's PostgreSQL handler an `_id` equality is a
`@>` that FerretDB's btree index on `_id` cannot serve: a GIN index on `_id` makes each
update an index lookup while the backfill runs (dropped when it completes).
"""

import itertools
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.collection import Collection

from logsite.mongodb import ferretdb
from retrieval import buckets
from retrieval.models import LogEntry

BATCH = 1000  # updates per bulk_write: far below the 65,535 parameters of one PostgreSQL statement
MARKER_COLLECTION = "hot_buckets_backfill"
ID_INDEX = "backfill_id"  # purpose of the temporary GIN index on `_id`
UNSTAMPED = {buckets.HOUR: {"$exists": False}}


def completed(collection: Collection) -> bool:
    """Has a backfill of this collection finished (so every log since is stamped by its writer)?"""
    return collection.database[MARKER_COLLECTION].find_one({"_id": collection.name}) is not None


def write_batch(collection: Collection, documents: list[dict]) -> int:
    """Stamp these logs (each by `_id`, from its own timestamp); how many changed."""
    updates = [
        UpdateOne({"_id": d["_id"]}, {"$set": {name: d[name] for name in buckets.FIELDS if name in d}})
        for d in buckets.stamped(documents)
    ]
    return ferretdb.bulk_write_in_chunks(collection, updates)


def backfill(batch: int = BATCH, progress: Callable[[int], None] = lambda stamped: None) -> int:
    """Stamp every hot log that lacks its buckets, then record that it is done; how many were stamped."""
    collection = LogEntry.collection()
    database = collection.database.name
    ferretdb.ensure_gin_index(database, collection.name, ["_id"], purpose=ID_INDEX)
    stamped = 0
    with tempfile.TemporaryFile("w+") as pending:
        # The ids go to disk first and the cursor is closed before any update: FerretDB 1.24 left an
        # update waiting behind an open cursor on the same collection (memory stays bounded either way).
        with collection.find(UNSTAMPED, {"timestamp": 1}, batch_size=batch) as cursor:
            for document in cursor:
                pending.write(f"{document['_id']} {document['timestamp'].isoformat()}\n")
        pending.seek(0)
        while lines := list(itertools.islice(pending, batch)):
            documents = [
                {"_id": ObjectId(log_id), "timestamp": datetime.fromisoformat(moment)}
                for log_id, moment in (line.split() for line in lines)
            ]
            stamped += write_batch(collection, documents)
            progress(stamped)
    collection.database[MARKER_COLLECTION].replace_one(
        {"_id": collection.name}, {"_id": collection.name, "completed": datetime.now(UTC)}, upsert=True
    )
    ferretdb.drop_gin_index(database, collection.name, ID_INDEX)
    return stamped
