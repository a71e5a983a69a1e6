"""Histogram benchmark: the hot histogram from the counters against reading every log of the range (the old path).

    .venv/bin/python bench/histogram.py --logs 200000 --rounds 5

Starts its own throwaway FerretDB (unless MONGODB_URI is set; then the database
`logretrieval_bench` there, dropped at the end), stores `--logs` logs of 300 Zipf users over
the last 7 days through `retrieval.hotstore.insert`, then times, for each shape, the old path
(a projection of timestamp and level of every matching log, bucketed in Python: what
`HotSource.volume` did on FerretDB) and `HotSource.volume` (the counters), medians of `--rounds`,
and checks they agree.
"""

import argparse
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import run_with_services  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    return run_with_services(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    from devservices import traffic
    from retrieval import hotstore
    from retrieval.models import LogEntry
    from retrieval.query import ALL_LEVELS, LogQuery
    from retrieval.sources import HotSource, utc

    logs = LogEntry.collection()
    logs.database.client.drop_database(logs.database.name)
    call_command("migrate", verbosity=0)
    call_command("migrate", database="logs", verbosity=0)
    now = datetime.now(UTC)
    end = now.replace(second=0, microsecond=0)
    week = end - timedelta(days=7)
    started = time.perf_counter()
    documents = traffic.documents(args.logs, week, end, users=300, seed=1)
    heaviest: Counter[int] = Counter()
    for batch in traffic.batches(documents, 10_000):
        heaviest.update(d["user_id"] for d in batch)
        hotstore.insert(batch)
    print(f"  stored {args.logs:,} logs in {time.perf_counter() - started:.0f}s", file=sys.stderr)

    every = LogQuery(user_ids=(), start=week, end=end, levels=ALL_LEVELS)
    shapes = {
        "7 days, every user": every,
        "7 days, heaviest user": replace(every, user_ids=(heaviest.most_common(1)[0][0],)),
        "24 h to now (cut minutes), every user": replace(every, start=now - timedelta(days=1), end=now),
    }

    def old(query: LogQuery) -> Counter:
        found = logs.find(query.mongo_filter(), {"_id": 0, "timestamp": 1, "level": 1}, batch_size=10_000)
        return Counter((query.bucket_of(utc(d["timestamp"])), d["level"]) for d in found)

    source = HotSource()
    lines = [
        f"{args.logs:,} logs, 300 Zipf users, 7 days; medians of {args.rounds} (ms)",
        "",
        "| histogram | every log (old) | counters | agree |",
        "|---|---|---|---|",
    ]
    for name, query in shapes.items():
        timings: dict[str, list[float]] = {"old": [], "counters": []}
        answers = {}
        for _ in range(args.rounds):
            for way, volume in (("old", old), ("counters", source.volume)):
                began = time.perf_counter()
                answers[way] = volume(query)
                timings[way].append((time.perf_counter() - began) * 1000)
        agree = +answers["old"] == +answers["counters"]
        lines.append(
            f"| {name} | {statistics.median(timings['old']):,.0f} | {statistics.median(timings['counters']):,.1f} "
            f"| {'yes' if agree else 'NO'} |"
        )
    print("\n".join(lines))
    logs.database.client.drop_database(logs.database.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
