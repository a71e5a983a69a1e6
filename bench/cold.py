"""Benchmark: cold reads (disk cache + DuckDB) against DuckDB alone on the same files; the month histogram.

    .venv/bin/python bench/cold.py [--logs 200000] [--part-logs 100000] [--repeat 5]

Stores, on the moto S3 server (started here unless S3_ENDPOINT_URL is set, as are
MongoDB and Redis), with the archiver's encoder and compression and its ledger rows
(per-minute counts included):
- one part of `--part-logs` demo logs (one day, user 4, level error);
- a whole day of `--logs` demo logs of five users, one part per (user, level);
- 30 more days, each the same objects under that day's keys, with ledger rows that
  shift the day's times and counts onto it: they are there to be counted from the
  ledger for the month histogram, never read.

Then, for a keyword query (page of 100, newest first) on the part and on the day,
medians of `--repeat`, with 1 and 8 clients (threads) at once:
- ours, cached: `ColdSource().fetch`, the parts already in the disk cache;
- DuckDB alone: `duckdb.sql`-style `read_json(...) WHERE ... ORDER BY ... LIMIT` on
  the same cached files, the same predicate, same threads setting, a cursor per thread;
- ours, uncached: the same after emptying the cache (the clients start together, so
  with 8 they also show that a part is downloaded once);
and the 31-day histogram without a keyword (`ColdSource().volume`), counting GETs.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

DAY = date(2023, 8, 27)
PART_DAY = date(2023, 9, 30)  # the single part's own day, outside the month
KEYWORD = "Recall"
LEVELS = ("debug", "info", "warning", "error", "critical")


def setup_django(data_root: Path) -> None:
    from devservices.localservices import LocalServices

    os.environ.setdefault("SECRET_KEY", "bench-not-secret")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("HTTPS_ONLY", "false")
    os.environ["ARCHIVE_STORAGE"] = "s3"
    os.environ.setdefault("MONGODB_NAME", "bench_cold")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{data_root / 'bench.sqlite3'}")
    os.environ["COLD_CACHE_DIR"] = str(data_root / "cold-cache")
    services = LocalServices(data_root=data_root / "services", ephemeral=True)
    os.environ.update(services.start())
    import atexit

    atexit.register(services.stop)

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "logsite.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def store_part(run, day: date, user_id: int, level: str, documents: list[dict], body: bytes | None = None):
    """One part as the archiver writes it (archive.jsonl, gzip at COMPRESS_LEVEL), stored and recorded purged."""
    from django.core.files.base import ContentFile

    from archive import jsonl, minutes
    from archive.exporter import COMPRESS_LEVEL
    from archive.models import ArchivePart
    from archive.storage import archive_storage

    raw = b"".join(jsonl.encode(document) for document in documents)
    body = body or gzip.compress(raw, COMPRESS_LEVEL)
    key = f"logs/date={day}/user_id={user_id}/level={level}/part-bench.jsonl.gz"
    archive_storage().save(key, ContentFile(body))
    stamps = [jsonl.format_timestamp(d["timestamp"]) for d in documents]
    shift = datetime.combine(day, datetime.min.time(), tzinfo=UTC) - datetime.combine(
        documents[0]["timestamp"].date(), datetime.min.time(), tzinfo=UTC
    )
    return ArchivePart.objects.create(
        run=run,
        key=key,
        day=day,
        user_id=user_id,
        level=level,
        count=len(documents),
        raw_bytes=len(raw),
        compressed_bytes=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        first_timestamp=min(d["timestamp"] for d in documents) + shift,
        last_timestamp=max(d["timestamp"] for d in documents) + shift,
        minute_counts=minutes.encode(Counter(map(minutes.minute_of_day, stamps))),
        purged=datetime.now(UTC),
    ), body


def archive_demo(day_logs: int, part_logs: int):
    """The single part, the day's parts, and 30 more days of copies; returns (part, day parts)."""
    from bson import ObjectId

    from archive.models import ArchiveRun
    from retrieval.demo import generate_demo_logs

    run = ArchiveRun.objects.create(before=PART_DAY + timedelta(days=1), trigger="bench", status="succeeded")
    single = [
        {**d, "_id": ObjectId(), "user_id": 4, "level": "error"}
        for d in generate_demo_logs([PART_DAY], per_day=part_logs, seed=1)
    ]
    part, _ = store_part(run, PART_DAY, 4, "error", single)
    groups: dict[tuple[int, str], list[dict]] = {}
    for document in generate_demo_logs([DAY], per_day=day_logs, seed=2):
        groups.setdefault((document["user_id"], document["level"]), []).append({**document, "_id": ObjectId()})
    day_parts, bodies = [], {}
    for (user_id, level), documents in sorted(groups.items()):
        documents.sort(key=lambda d: (d["timestamp"], str(d["_id"])))
        stored, bodies[(user_id, level)] = store_part(run, DAY, user_id, level, documents)
        day_parts.append(stored)
    for offset in range(1, 31):  # the month before DAY, ledger counts from the same logs
        for (user_id, level), documents in sorted(groups.items()):
            store_part(run, DAY - timedelta(days=offset), user_id, level, documents, bodies[(user_id, level)])
    return part, day_parts


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def at_once(clients: int, call: Callable[[], object]) -> list[float]:
    """`clients` threads run `call` together (released by one barrier); each one's seconds."""
    barrier = threading.Barrier(clients)

    def timed() -> float:
        barrier.wait()
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(lambda _: timed(), range(clients)))


class Gets:
    """GetObject requests sent by the archive storage's client (the one cold reads use on this thread)."""

    def __enter__(self) -> Gets:
        from archive.storage import archive_storage

        self.count = 0
        self.events = archive_storage().connection.meta.client.meta.events
        self.events.register("before-send.s3.GetObject", self._seen)
        return self

    def _seen(self, **kwargs: object) -> None:
        self.count += 1

    def __exit__(self, *exc_info: object) -> None:
        self.events.unregister("before-send.s3.GetObject", self._seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=int, default=200_000, help="logs of the whole day")
    parser.add_argument("--part-logs", type=int, default=100_000, help="logs of the single part")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        setup_django(Path(tmp))
        import duckdb
        from django.conf import settings
        from django.db import close_old_connections

        from archive import cache, reader, storage
        from archive.source import ColdSource
        from retrieval.query import ALL_LEVELS, LogQuery

        started = time.perf_counter()
        part, day_parts = archive_demo(args.logs, args.part_logs)
        print(f"stored in {time.perf_counter() - started:.0f} s")
        source = ColdSource()
        bare_local = threading.local()

        def bare_cursor() -> duckdb.DuckDBPyConnection:
            if not hasattr(bare_local, "cursor"):
                bare_local.cursor = bare_database.cursor()
            return bare_local.cursor

        bare_database = duckdb.connect()
        bare_database.execute(f"SET threads = {settings.COLD_DUCKDB_THREADS}")
        bare_database.execute(f"SET memory_limit = '{settings.COLD_DUCKDB_MEMORY_LIMIT}'")

        def day_query(day: date, user_ids: tuple[int, ...], levels: tuple[str, ...]) -> LogQuery:
            start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            return LogQuery(user_ids, start, start + timedelta(days=1), levels, keyword=KEYWORD, limit=100)

        cases = [
            ("one part", day_query(PART_DAY, (4,), ("error",)), [part]),
            ("whole day", day_query(DAY, (), ALL_LEVELS), day_parts),
        ]
        rows = []
        for name, query, parts in cases:
            raw_mb = sum(p.raw_bytes for p in parts) / 1e6
            gz_mb = sum(p.compressed_bytes for p in parts) / 1e6

            def ours(query: LogQuery = query) -> None:
                assert len(source.fetch(query, None, 100)) == 100
                close_old_connections()

            with cache.held(parts, storage.chunk_reader) as paths:
                sql = (
                    f"SELECT {', '.join(reader.ROW_COLUMNS)} FROM {reader.read_json(reader.ROW_COLUMNS)} "
                    "WHERE timestamp >= ? AND timestamp < ? AND regexp_matches(message, ?) "
                    "ORDER BY timestamp DESC, _id DESC LIMIT 100"
                )
                params = [
                    paths,
                    reader.jsonl.format_timestamp(query.start),
                    reader.jsonl.format_timestamp(query.end),
                    reader.keyword_pattern(KEYWORD),
                ]

                def bare(sql: str = sql, params: list = params) -> None:
                    assert len(bare_cursor().execute(sql, params).fetchall()) == 100

                for clients in (1, 8):
                    ours()  # warm: imports, connections
                    bare_times, our_times = [], []
                    for _ in range(args.repeat):
                        bare_times += at_once(clients, bare)
                        our_times += at_once(clients, ours)
                    b, o = median_ms(bare_times), median_ms(our_times)
                    rows.append((name, clients, "cached", o, b, raw_mb))
            for clients in (1, 8):
                uncached = []
                for _ in range(args.repeat):
                    cache.clear()
                    uncached += at_once(clients, ours)
                u = median_ms(uncached)
                rows.append((name, clients, "uncached", u, None, raw_mb))
            print(f"{name}: {len(parts)} parts, {raw_mb:.1f} MB JSON Lines, {gz_mb:.1f} MB gzip")

        month_start = datetime.combine(DAY - timedelta(days=30), datetime.min.time(), tzinfo=UTC)
        month = LogQuery((), month_start, month_start + timedelta(days=31), ALL_LEVELS)
        cache.clear()
        source.volume(month)  # warm
        histogram = []
        with Gets() as gets:
            for _ in range(args.repeat):
                started = time.perf_counter()
                counts = source.volume(month)
                histogram.append(time.perf_counter() - started)
        month_logs = sum(counts.values())
        assert month_logs == 31 * args.logs, month_logs

        print()
        print("| query (keyword, page of 100) | clients | cache | ours | DuckDB alone | ratio | JSON read |")
        print("|---|---:|---|---:|---:|---:|---:|")
        for name, clients, state, o, b, raw_mb in rows:
            ratio = f"{o / b:.2f}x" if b else ""
            bare_cell = f"{b:.0f} ms" if b else ""
            print(
                f"| {name} | {clients} | {state} | {o:.0f} ms | {bare_cell} | {ratio} | {raw_mb / (o / 1000):.0f} MB/s |"
            )
        h = median_ms(histogram)
        print(
            f"| 31-day histogram, no keyword ({month_logs:,} logs, {31 * len(day_parts)} parts) | 1 | ledger "
            f"| {h:.1f} ms | | | {gets.count} GETs |"
        )
        print()
        day_cached = next(r for r in rows if r[:3] == ("whole day", 1, "cached"))
        day_uncached = next(r for r in rows if r[:3] == ("whole day", 1, "uncached"))
        speed = day_uncached[5] / (day_uncached[3] / 1000)
        print(f"targets: cached whole day {day_cached[3] / day_cached[4]:.2f}x DuckDB alone (<= 1.5x); ", end="")
        print(f"uncached whole day {speed:.0f} MB/s (>= 80); ", end="")
        print(f"31-day histogram {h:.1f} ms (< 100), {gets.count} GETs (0)")
        print(f"(run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")


if __name__ == "__main__":
    main()
