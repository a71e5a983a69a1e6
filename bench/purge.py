"""Benchmark: the shapes of a purge delete command on the MongoDB server in use (FerretDB unless MONGODB_URI).

    .venv/bin/python bench/purge.py [--logs 30000]

Each shape deletes all `--logs` logs of a freshly filled collection in one command:
- time range alone (a window of the day: not exact, only the floor);
- time range + one `$in` of every id;
- time range + `$or` of chunks (100 and 1,000 ids), each chunk under its own time range:
  what `archive/purge.py` sends (1,000-id chunks).
Prints seconds per shape and the ratio to the time-range floor measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START = datetime(2023, 8, 27, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", type=int, default=30_000)
    args = parser.parse_args()

    import os

    import pymongo
    from bson import ObjectId

    from devservices.localservices import LocalServices

    with tempfile.TemporaryDirectory() as root:
        services = LocalServices(names=("mongodb",), data_root=Path(root), ephemeral=True)
        environ = services.start(dict(os.environ))
        try:
            collection = pymongo.MongoClient(environ["MONGODB_URI"])["bench_purge"]["logs"]
            count = args.logs

            def fill() -> list[dict]:
                from retrieval.buckets import stamped

                collection.drop()
                documents = [
                    {
                        "_id": ObjectId(),
                        "timestamp": START + timedelta(seconds=86400 * n / count),
                        "user_id": n % 300,
                        "level": "info",
                        "message": "x" * 100,
                    }
                    for n in range(count)
                ]
                for at in range(0, count, 10_000):
                    collection.insert_many(stamped(documents[at : at + 10_000]))
                return documents

            def time_range(documents: list[dict]) -> dict:
                return {"$gte": documents[0]["timestamp"], "$lte": documents[-1]["timestamp"]}

            def chunked(size: int):
                def shape(documents: list[dict]) -> dict:
                    chunks = [documents[at : at + size] for at in range(0, len(documents), size)]
                    branches = [{"timestamp": time_range(c), "_id": {"$in": [d["_id"] for d in c]}} for c in chunks]
                    return {"timestamp": time_range(documents), "$or": branches}

                return shape

            shapes = {
                "time range alone (floor)": lambda documents: {"timestamp": time_range(documents)},
                "time range + $in of all ids": lambda documents: {
                    "timestamp": time_range(documents),
                    "_id": {"$in": [d["_id"] for d in documents]},
                },
                "time range + $or of 100-id chunks": chunked(100),
                "time range + $or of 1,000-id chunks (ours)": chunked(1000),
            }
            results = {}
            for name, shape in shapes.items():
                documents = fill()
                started = time.perf_counter()
                deleted = collection.delete_many(shape(documents)).deleted_count
                results[name] = time.perf_counter() - started
                assert deleted == count, (name, deleted)
            floor = results["time range alone (floor)"]
            print(f"{count:,} logs, one delete command each")
            for name, seconds in results.items():
                print(f"  {name:<45} {seconds:7.2f} s  {seconds / floor:5.1f}x the floor")
        finally:
            services.stop()


if __name__ == "__main__":
    main()
