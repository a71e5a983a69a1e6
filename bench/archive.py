"""Benchmark: archive one day of logs to the moto S3 server, against the bare-driver floor.

    .venv/bin/python bench/archive.py [--sizes 100000,1000000] [--users 300,3000] [--nofile 256]

For each user count and size: inserts that many logs on one UTC day, made by
`devservices.traffic.documents` (Zipf-skewed over `--users` user ids, every level,
interleaved; `--users 0` uses the five-user demo generator instead), then in the same run
- floor: a bare pymongo find of the day -> json lines -> gzip (same level as the
  archiver) -> one S3 put with boto3; nothing verified, recorded or deleted;
- ours: the real archiver (`archive_logs`) in a child process: export, upload,
  verify (read back), ledger, manifest, delete from MongoDB; its peak RSS is the
  child's ru_maxrss; its peak open files are sampled from /proc/<pid>/fd every
  20 ms by the parent; `--nofile N` runs it under RLIMIT_NOFILE N (default: unchanged);
- compression: our parts' total size against `gzip -9` of the same JSON Lines.
- parts per group: the run's ArchivePart rows for the day / distinct (user_id, level)
  pairs among the day's logs (1.0 when each group is one part).
Prints a line per step, then two tables: speed, phases and compression; and groups,
parts, parts per group and peak open files.
Services (FerretDB, moto S3) are started here unless MONGODB_URI / S3_ENDPOINT_URL
are set. Targets: ours >= 0.66x the floor's logs/s; peak RSS < 200 MB and flat
across sizes; our compression >= 95% of gzip -9's ratio; peak open files flat in
the number of groups (10,000 groups under --nofile 256).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

DAY = date(2023, 8, 27)


def setup_django(data_root: Path) -> None:
    from devservices.localservices import LocalServices

    os.environ.setdefault("SECRET_KEY", "bench-not-secret")
    os.environ.setdefault("DEBUG", "false")
    os.environ["ARCHIVE_STORAGE"] = "s3"
    os.environ.setdefault("MONGODB_NAME", "bench_archive")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{data_root / 'bench.sqlite3'}")
    services = LocalServices(names=("mongodb", "s3"), data_root=data_root / "services", ephemeral=True)
    os.environ.update(services.start())
    import atexit

    atexit.register(services.stop)

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "logsite.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def insert(collection, count: int, users: int) -> tuple[float, int]:
    """Insert `count` logs on DAY; the seconds taken and the number of (user_id, level) groups."""
    from archive.models import ArchivePart
    from devservices import traffic
    from retrieval.buckets import stamped
    from retrieval.demo import generate_demo_logs

    collection.delete_many({})
    # A fresh day each time: the same seed makes the same ids, which a ledger still holding an
    # earlier size's parts of DAY would rightly treat as archived already.
    ArchivePart.objects.filter(day=DAY).delete()
    if users:
        start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
        documents = traffic.documents(count, start, start + timedelta(days=1), users=users, seed=1)
    else:
        documents = generate_demo_logs([DAY], count, seed=1)
    groups = set()
    started = time.perf_counter()
    while batch := list(itertools.islice(documents, 10_000)):
        groups.update((document["user_id"], document["level"]) for document in batch)
        collection.insert_many(stamped(batch), ordered=False)
    return time.perf_counter() - started, len(groups)


def floor(collection) -> dict:
    """Bare driver: find the day, write JSON lines through gzip to a temp file, one put."""
    import boto3
    from django.conf import settings

    from archive.exporter import COMPRESS_LEVEL, day_filter

    client = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"])
    started = time.perf_counter()
    count = 0
    with tempfile.TemporaryFile() as file:
        with gzip.GzipFile(fileobj=file, mode="wb", compresslevel=COMPRESS_LEVEL) as zipped:
            for document in collection.find(day_filter(DAY), batch_size=5000):
                zipped.write((json.dumps(document, default=str, separators=(",", ":")) + "\n").encode())
                count += 1
        file.seek(0)
        client.upload_fileobj(file, settings.ARCHIVE_BUCKET, "floor/day.jsonl.gz")
    elapsed = time.perf_counter() - started
    client.delete_object(Bucket=settings.ARCHIVE_BUCKET, Key="floor/day.jsonl.gz")
    return {"logs": count, "seconds": elapsed}


def ours_child() -> None:
    """In a child process, so that ru_maxrss is the archiver's own peak."""
    setup_django(Path(os.environ["BENCH_DATA_ROOT"]))
    from archive import archiver, purge

    phases = {"export": 0.0, "purge": 0.0, "day lookup": 0.0}

    def timed(module, name: str, phase: str) -> None:
        real = getattr(module, name, None)
        if real is None:  # the other archiver version's entry point
            return

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                phases[phase] += time.perf_counter() - started

        setattr(module, name, wrapper)

    timed(archiver, "export_day", "export")
    timed(archiver, "next_day", "day lookup")
    # The archiver's entry points into purge: the older ones, or purge_parts since one part per group.
    for name in ("purge_by_filter", "purge_exact", "purge_parts"):
        timed(purge, name, "purge")

    started = time.perf_counter()
    run = archiver.archive_logs(before=DAY + timedelta(days=1), trigger="bench")
    elapsed = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "status": run.status,
                "logs": run.logs,
                "seconds": elapsed,
                "raw_bytes": run.raw_bytes,
                "compressed_bytes": run.compressed_bytes,
                "peak_rss_mb": peak_kb / 1024,
                "run": run.pk,
                "phases": phases,
            }
        )
    )


def ours(data_root: Path, nofile: int | None) -> dict:
    env = {**os.environ, "BENCH_DATA_ROOT": str(data_root)}
    command = [sys.executable, __file__, "--child"] + (["--nofile", str(nofile)] if nofile else [])
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        # From outside, so the archiver's own file use is not disturbed; every 20 ms.
        while not done.wait(0.02):
            try:
                peak[0] = max(peak[0], len(os.listdir(f"/proc/{child.pid}/fd")))
            except OSError:  # exited (or a zombie whose fds are gone)
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = child.communicate()
    done.set()
    sampler.join()
    if child.returncode:
        sys.exit(f"the archive run failed:\n{stderr[-3000:]}")
    return {**json.loads(stdout.strip().splitlines()[-1]), "peak_open_files": peak[0]}


def parts_of_day(run_id: int) -> int:
    from archive.models import ArchivePart

    return ArchivePart.objects.filter(run_id=run_id, day=DAY).count()


def gzip9_bytes(run_id: int) -> int:
    """`gzip -9` of the same JSON Lines: our parts decompressed with plain boto3 + gzip, in one file."""
    import boto3
    from django.conf import settings

    from archive.models import ArchivePart

    client = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"])
    with tempfile.NamedTemporaryFile() as lines:
        for key in ArchivePart.objects.filter(run_id=run_id).values_list("key", flat=True):
            body = client.get_object(Bucket=settings.ARCHIVE_BUCKET, Key=key)["Body"]
            with gzip.GzipFile(fileobj=body) as part:
                while chunk := part.read(1 << 20):
                    lines.write(chunk)
        lines.flush()
        compressed = subprocess.run(["gzip", "-9", "-c", lines.name], check=True, capture_output=True).stdout
    return len(compressed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated log counts (one day each)")
    parser.add_argument(
        "--users", default="300", help="comma-separated user counts for devservices.traffic (0: the demo's five users)"
    )
    parser.add_argument("--nofile", type=int, help="run the archiver under this RLIMIT_NOFILE (e.g. 256)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.nofile:
            # Before anything opens files: the archiver must live within the limit, as under `ulimit -n`.
            resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))
        ours_child()
        return
    data_root = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    setup_django(data_root)
    from retrieval.models import LogEntry

    collection = LogEntry.collection()
    server = collection.database.client.admin.command("buildInfo")
    print(
        f"MongoDB server: {'FerretDB ' + server['ferretdbVersion'] if 'ferretdbVersion' in server else 'MongoDB ' + server['version']}"
    )
    rows = []
    for users, size in itertools.product(
        (int(value) for value in args.users.split(",")), [int(value) for value in args.sizes.split(",")]
    ):
        seconds, groups = insert(collection, size, users)
        who = f"{users:,} users" if users else "demo users"
        print(f"{size:,} logs ({who}, {groups:,} user-level groups) inserted in {seconds:.0f}s", flush=True)
        bare = floor(collection)
        print(f"  floor: {bare['logs']:,} logs in {bare['seconds']:.1f}s", flush=True)
        run = ours(data_root, args.nofile)
        run["parts"], run["groups"], run["users"] = parts_of_day(run["run"]), groups, users
        print(
            f"  ours:  {run['logs']:,} logs in {run['seconds']:.1f}s, peak RSS {run['peak_rss_mb']:.0f} MB, "
            f"{run['parts']:,} parts, peak open files {run['peak_open_files']}",
            flush=True,
        )
        assert run["status"] == "succeeded" and run["logs"] == size == bare["logs"], run
        assert collection.count_documents({}) == 0, "the archiver left logs behind"
        best = gzip9_bytes(run["run"])
        rows.append((size, bare, run, best))

    print()
    print(
        "| logs | users | floor logs/s | ours logs/s | ours / floor | export | upload + verify + ledger | purge | day lookup "
        "| peak RSS (MB) | raw MB | compressed MB | ratio | gzip -9 ratio | ours / gzip -9 |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, bare, run, best in rows:
        floor_rate, our_rate = size / bare["seconds"], size / run["seconds"]
        ratio, best_ratio = run["raw_bytes"] / run["compressed_bytes"], run["raw_bytes"] / best
        phases = run["phases"]
        storage = run["seconds"] - sum(phases.values())
        print(
            f"| {size:,} | {run['users'] or 'demo'} | {floor_rate:,.0f} | {our_rate:,.0f} | {our_rate / floor_rate:.2f}x "
            f"| {phases['export']:.1f}s | {storage:.1f}s | {phases['purge']:.1f}s | {phases['day lookup']:.1f}s "
            f"| {run['peak_rss_mb']:.0f} | {run['raw_bytes'] / 1e6:.1f} | {run['compressed_bytes'] / 1e6:.1f} "
            f"| {ratio:.2f} | {best_ratio:.2f} | {ratio / best_ratio:.0%} |"
        )

    print()
    limit = f"under RLIMIT_NOFILE {args.nofile}" if args.nofile else "no RLIMIT_NOFILE change"
    print(f"Ledger and open files ({limit}):")
    print(
        "| logs | users | (user, level) groups | parts | parts / group | peak open files | ours logs/s | ours / floor |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, bare, run, _ in rows:
        our_rate = size / run["seconds"]
        print(
            f"| {size:,} | {run['users'] or 'demo'} | {run['groups']:,} | {run['parts']:,} "
            f"| {run['parts'] / run['groups']:.2f} | {run['peak_open_files']} | {our_rate:,.0f} "
            f"| {our_rate / (size / bare['seconds']):.2f}x |"
        )


if __name__ == "__main__":
    main()
