"""Benchmark: a keyword query on one archived (day, user, level) part, through the API.

    .venv/bin/python bench/cold.py [--logs 100000] [--repeat 5]

Writes one archive part of `--logs` demo logs of one user and level on one day
(the archiver's encoder and compression) to the moto S3 server (started here
unless S3_ENDPOINT_URL is set, as are MongoDB and Redis), then reports the median time of `GET /api/v1/logs` for a
keyword query on that day: first (the part is pulled from object storage) and
cached (the parsed part in this process's cache layer; and, as another web
process would see it, only in Redis). In the same run, the floor: a bare
boto3 GET of the same object + gzip decompress + json parse + substring filter.
Targets: first <= 1.3x floor; cached <= 0.2x first.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

DAY = date(2023, 8, 27)
KEYWORD = "Recall"
USER_ID, LEVEL = 4, "error"


def setup_django(data_root: Path) -> None:
    from devservices.localservices import LocalServices

    os.environ.setdefault("SECRET_KEY", "bench-not-secret")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("HTTPS_ONLY", "false")  # the test client speaks plain HTTP
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ["ARCHIVE_STORAGE"] = "s3"
    os.environ.setdefault("MONGODB_NAME", "bench_cold")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{data_root / 'bench.sqlite3'}")
    services = LocalServices(data_root=data_root / "services", ephemeral=True)
    os.environ.update(services.start())
    import atexit

    atexit.register(services.stop)

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "logsite.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def archive_demo_day(count: int):
    """One part of `count` demo logs for one user and level on DAY, written as the archiver writes parts
    (archive.jsonl + gzip at the exporter's COMPRESS_LEVEL), stored in S3 and recorded in the ledger; returns the part.

    The archiver itself is benchmarked by bench/archive.py; here it would only add minutes of
    inserting into and deleting from FerretDB before the measurement."""
    from bson import ObjectId
    from django.core.files.base import ContentFile

    from archive import jsonl
    from archive.exporter import COMPRESS_LEVEL
    from archive.models import ArchivePart, ArchiveRun
    from archive.storage import archive_storage
    from retrieval.demo import generate_demo_logs

    documents = [
        {**document, "_id": ObjectId(), "user_id": USER_ID, "level": LEVEL}
        for document in generate_demo_logs([DAY], per_day=count, seed=1)
    ]
    raw = b"".join(jsonl.encode(document) for document in documents)
    compressed = gzip.compress(raw, COMPRESS_LEVEL)
    key = f"logs/date={DAY}/user_id={USER_ID}/level={LEVEL}/part-bench.jsonl.gz"
    archive_storage().save(key, ContentFile(compressed))
    run = ArchiveRun.objects.create(before=DAY + timedelta(days=1), trigger="bench", status="succeeded")
    return ArchivePart.objects.create(
        run=run,
        key=key,
        day=DAY,
        user_id=USER_ID,
        level=LEVEL,
        count=count,
        raw_bytes=len(raw),
        compressed_bytes=len(compressed),
        sha256=hashlib.sha256(compressed).hexdigest(),
        first_timestamp=documents[0]["timestamp"],
        last_timestamp=documents[-1]["timestamp"],
    )


def floor(part) -> tuple[float, int]:
    """Bare boto3: GET, gunzip, parse every line, keep the lines whose message has the keyword."""
    from archive.storage import archive_storage

    storage = archive_storage()
    client = storage.connection.meta.client
    needle = KEYWORD.lower()
    started = time.perf_counter()
    body = client.get_object(Bucket=storage.bucket_name, Key=part.key)["Body"].read()
    hits = 0
    for line in gzip.decompress(body).splitlines():
        if needle in json.loads(line)["message"].lower():
            hits += 1
    return time.perf_counter() - started, hits


def api_time(client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, (response.status_code, response.content[:500])
    body = response.json()
    assert body["sources"] == {"hot": "ok", "cold": "ok"}, body["sources"]
    assert body["results"] and all(row["source"] == "cold" for row in body["results"])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        setup_django(Path(tmp))
        from django.contrib.auth import get_user_model
        from django.test import Client

        from archive import cache

        part = archive_demo_day(args.logs)
        user = get_user_model().objects.create_user("bench")
        client = Client()
        client.force_login(user)
        url = f"/api/v1/logs?date={DAY}&user_id={USER_ID}&level={LEVEL}&keyword={KEYWORD}&page_size=100"

        client.get(url)  # warm-up: imports, connections
        floors, hits = [], 0
        firsts, cached, shared = [], [], []
        for _ in range(args.repeat):
            seconds, hits = floor(part)
            floors.append(seconds)
            cache.clear()
            firsts.append(api_time(client, url))
            cached.extend(api_time(client, url) for _ in range(3))
            cache.local.clear()  # what another web process sees: the part in Redis only
            shared.append(api_time(client, url))

        f, first, again = statistics.median(floors), statistics.median(firsts), statistics.median(cached)
        redis_hit = statistics.median(shared)
        megabytes = part.raw_bytes / 1e6
        print(f"part: {part.count:,} logs, {megabytes:.1f} MB JSON Lines, {part.compressed_bytes / 1e6:.1f} MB gzip")
        print(f"keyword {KEYWORD!r}: {hits:,} matching lines; API page of 100; medians of {args.repeat}")
        print()
        # Only the floor and the first query read the part; a cached answer scans nothing.
        print("| measure | median | ratio | JSON Lines read |")
        print("|---|---|---|---|")
        print(
            f"| floor: boto3 get + gunzip + json + filter | {f * 1000:.0f} ms | 1.00x floor | {megabytes / f:.0f} MB/s |"
        )
        print(f"| API, first (pull) | {first * 1000:.0f} ms | {first / f:.2f}x floor | {megabytes / first:.0f} MB/s |")
        print(f"| API, cached | {again * 1000:.0f} ms | {again / first:.3f}x first | none (parsed index in memory) |")
        print(
            f"| API, cached in Redis only (another process) | {redis_hit * 1000:.0f} ms | {redis_hit / first:.3f}x first "
            "| none (parsed index copied out of Redis) |"
        )
        print()
        print(f"targets: first <= 1.3x floor: {'met' if first <= 1.3 * f else 'NOT met'}; ", end="")
        print(f"cached <= 0.2x first: {'met' if again <= 0.2 * first else 'NOT met'}")
        print(f"(run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")


if __name__ == "__main__":
    main()
