"""Ingest and search at once against a real gunicorn: the capacity searches cannot take (SEARCH_THREADS).

    .venv/bin/python bench/mixed_load.py                       # 20 clients, 30 s per phase
    .venv/bin/python bench/mixed_load.py --logs 100000 --seconds 60

Loads realistic traffic (`devservices.traffic`, 300 Zipf users) over the 8 UTC days before
today into a throwaway FerretDB (on PostgreSQL, Django's database there too) and archives
every day but the newest (the local folder storage). Then, twice on the same data and
machine, runs gunicorn as the image does (gunicorn.conf.py, WEB_CONCURRENCY=2 x
WEB_THREADS=4) and 20 clients for --seconds:

  - 14 searching (GET /api/v1/logs): half the last 24 hours (hot: all users, or one user),
    half an archived day (cold: one user, or one user and a level), each client in a loop;
  - 6 sending 500-log batches (POST /api/v1/logs), each in a loop.

BEFORE: HOT_BUCKET_WALK=off: MongoDB is asked in the query's shape before hour buckets (a
        time range FerretDB cannot push down: it reads and sorts every log of the users).
AFTER:  the defaults (the hour-bucket walk on FerretDB).
Both with the default search limit (SEARCH_THREADS = WEB_THREADS - 1): a search past it is
answered 503 with Retry-After at once; the client waits that long, as a well-behaved one does.
`--also 2` adds a phase with the defaults and SEARCH_THREADS=2 (and so on); `--also 0`, one
without a search limit.

Prints ingest and search p50/p95 (successful requests, ms), their counts, searches refused
(503), other errors, and the share of search requests (refused ones included) answered within
2 s. Each client has its own API token; throttles are off (rates empty).
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BASE_DIR, load_archived_traffic, percentile, run_with_services  # noqa: E402

SEARCHERS, SENDERS, BATCH = 14, 6, 500


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=int, default=100_000, help="logs loaded before the runs")
    parser.add_argument("--seconds", type=float, default=30, help="length of each phase")
    parser.add_argument(
        "--also", default="", help="comma-separated SEARCH_THREADS values to run as further AFTER phases, e.g. 0,2"
    )
    args = parser.parse_args()
    no_limits = {f"THROTTLE_{scope}_RATE": "" for scope in ("SEARCH", "EXPORT", "INGEST")}
    return run_with_services(lambda: run(args), services=("postgresql", "mongodb"), ARCHIVE_STORAGE="file", **no_limits)


def run(args: argparse.Namespace) -> int:
    from django.contrib.auth.models import User

    from access.tokens import create_token

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=7)
    logs, archived = load_archived_traffic(args.logs, first, datetime.now(UTC), (today - timedelta(days=1)).date())

    owner = User.objects.create_superuser("bench", "bench@example.com", "unused-password")
    tokens = [create_token(owner, f"client {i}")[1] for i in range(SEARCHERS + SENDERS)]
    cold_day = (first + timedelta(days=3)).date().isoformat()
    results = {}
    # BEFORE runs last: after its clients had stopped, FerretDB did not answer /readyz's ping for more than
    # a minute (still busy with the old shape's scans), which would have been charged to the next phase.
    phases: list[tuple[str, dict[str, str]]] = [("AFTER (defaults)", {})]
    phases += [(f"AFTER (SEARCH_THREADS={n})", {"SEARCH_THREADS": n}) for n in args.also.split(",") if n]
    phases.append(("BEFORE (HOT_BUCKET_WALK=off)", {"HOT_BUCKET_WALK": "off"}))
    for phase, settings in phases:
        with gunicorn(settings) as base:
            results[phase] = r = load(base, tokens, cold_day, args.seconds)
        # Each phase as it ends, too: a later phase that fails loses nothing measured.
        print(f"  {phase}: ingest p50 {p(r['ingest'], 0.5)} ms, searches within 2 s {within(r, 2000)}", file=sys.stderr)

    print(
        f"{args.logs:,} logs (300 Zipf users) over 8 days, {archived.days} archived; gunicorn 2 workers x 4 threads; "
        f"{SEARCHERS} searching + {SENDERS} sending {BATCH}-log batches for {args.seconds:g} s per phase; ms\n"
    )
    print(
        "| phase | ingest p50 | ingest p95 | batches | ingest errors | search p50 | search p95 | searches "
        "| searches refused (503) | search errors | search requests answered within 2 s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for phase, r in results.items():
        print(
            f"| {phase} | {p(r['ingest'], 0.5)} | {p(r['ingest'], 0.95)} | {len(r['ingest'])} | "
            f"{sum(r['ingest_errors'].values())} | {p(r['search'], 0.5)} | {p(r['search'], 0.95)} | "
            f"{len(r['search'])} | {r['refused']} | {sum(r['search_errors'].values())} | {within(r, 2000)} |"
        )
        for kind in ("ingest_errors", "search_errors"):
            if r[kind]:
                print(f"  {phase} {kind}: {dict(r[kind])}", file=sys.stderr)
    logs.database.client.drop_database(logs.database.name)
    return 0


def within(r: dict, ms: float) -> str:
    requests = len(r["search"]) + r["refused"] + sum(r["search_errors"].values())
    answered = sum(1 for took in r["search"] if took <= ms)
    return f"{answered}/{requests} ({answered / requests:.0%})" if requests else "-"


def p(samples: list[float], fraction: float) -> str:
    return f"{percentile(samples, fraction):.0f}" if samples else "-"


class gunicorn:
    """The image's CMD (gunicorn.conf.py) on a free port, on this bench's databases."""

    def __init__(self, settings: dict[str, str]) -> None:
        from devservices.processes import free_port

        self.port = free_port()
        self.env = {**os.environ, "PORT": str(self.port), "WEB_CONCURRENCY": "2", "WEB_THREADS": "4"}
        self.env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
        for name in ("SEARCH_THREADS", "HOT_BUCKET_WALK"):
            self.env.pop(name, None)
        self.env.update(settings)

    def __enter__(self) -> str:
        from devservices.processes import wait_until

        self.process = subprocess.Popen(
            ["gunicorn", "logsite.wsgi"], cwd=BASE_DIR, env=self.env, start_new_session=True
        )
        base = f"http://127.0.0.1:{self.port}"
        # Minutes, not seconds: FerretDB may still be working off the previous phase's abandoned queries.
        wait_until(lambda: urllib.request.urlopen(f"{base}/readyz", timeout=5).status == 200, "gunicorn", timeout=600)
        return base

    def __exit__(self, *exc: object) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)


def load(base: str, tokens: list[str], cold_day: str, seconds: float) -> dict:
    """Run the clients for `seconds`; milliseconds of each successful request, and the failures."""
    result: dict = {
        "ingest": [],
        "search": [],
        "refused": 0,
        "ingest_errors": Counter(),
        "search_errors": Counter(),
    }
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def request(token: str, method: str, path: str, body: bytes | None = None) -> tuple[int, float, str]:
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(
                urllib.request.Request(base + path, body, headers, method=method), timeout=120
            ) as response:
                response.read()
                status, retry_after = response.status, ""
        except urllib.error.HTTPError as exc:
            exc.read()
            status, retry_after = exc.code, exc.headers.get("Retry-After", "")
        except OSError as exc:
            status, retry_after = 0, type(exc).__name__
        return status, (time.perf_counter() - started) * 1000, retry_after

    def searcher(index: int) -> None:
        r = random.Random(index)
        while time.monotonic() < deadline:
            user = str(r.randint(1, 20))
            if index % 2:
                params = r.choice(
                    [{"date": cold_day, "user_id": user}, {"date": cold_day, "user_id": user, "level": "error"}]
                )
            else:
                params = r.choice([{}, {"user_id": user}])
            status, ms, retry_after = request(tokens[index], "GET", f"/api/v1/logs?{urllib.parse.urlencode(params)}")
            with lock:
                if status == 200:
                    result["search"].append(ms)
                elif status == 503 and retry_after:
                    result["refused"] += 1
                else:
                    result["search_errors"][status or retry_after] += 1
            if status == 503 and retry_after.isdigit():
                time.sleep(int(retry_after))

    def sender(index: int) -> None:
        sent = 0
        while time.monotonic() < deadline:
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            batch = [
                {
                    "timestamp": stamp,
                    "user_id": 1 + (sent + i) % 300,
                    "level": "info",
                    "message": f"client {index} log {sent + i}",
                }
                for i in range(BATCH)
            ]
            sent += BATCH
            status, ms, detail = request(
                tokens[SEARCHERS + index], "POST", "/api/v1/logs", json.dumps({"logs": batch}).encode()
            )
            with lock:
                if status == 201:
                    result["ingest"].append(ms)
                else:
                    result["ingest_errors"][status or detail] += 1

    threads = [threading.Thread(target=searcher, args=(i,)) for i in range(SEARCHERS)]
    threads += [threading.Thread(target=sender, args=(i,)) for i in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


if __name__ == "__main__":
    sys.exit(main())
