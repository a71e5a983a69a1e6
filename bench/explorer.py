"""The explorer's backend on realistic traffic: query syntax, paging back, one log, its context, the tail.

    .venv/bin/python bench/explorer.py --logs 50000 --repeat 5

Loads realistic traffic (`devservices.traffic`, 300 Zipf users, ids carrying the log's time)
over the 8 UTC days before today into a throwaway FerretDB, archives every day but the
newest, then times, parts already in the disk cache (medians, ms):

  - a day's search (hot and archived) with `q` terms against the same with `keyword` only
  - the page before (prev_cursor) against the page after (next_cursor), page 3 of 100 rows
  - find_log of a hot and of an archived log
  - around (50 each way) of the first log of the hot day: half of it archived
  - a tail poll that finds nothing new
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_archived_traffic, run_with_services  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    return run_with_services(lambda: run(args), ARCHIVE_STORAGE="file")


def median_ms(call: Callable[[], object], repeat: int) -> float:
    call()  # warm-up: parts into the cache
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from devservices import traffic
    from retrieval import livetail, planner
    from retrieval.query import ALL_LEVELS, LogQuery

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=8)
    logs, _ = load_archived_traffic(args.logs, first, today, (today - timedelta(days=1)).date())
    hot_day, cold_day = today - timedelta(days=1), today - timedelta(days=2)
    model = traffic.MODELS[0]
    results: list[tuple[str, float]] = []

    for where, day in (("hot", hot_day), ("archived", cold_day)):
        base = LogQuery((), day, day + timedelta(days=1), ALL_LEVELS)
        for label, query in (
            ("keyword", replace(base, keyword="loss")),
            ("q: word", replace(base, q="loss")),
            ("q: word -level context.model", replace(base, q=f"loss -level:debug context.model:{model}")),
            ("q: -word -logger", replace(base, q=f'-"loss" -logger:{traffic.LOGGERS[model]}')),
        ):
            results.append((f"{where} day, {label}", median_ms(lambda q=query: planner.search(q), args.repeat)))

        pages = [planner.search(base)]
        for _ in range(2):
            pages.append(planner.search(base, pages[-1].next_cursor))
        results.append(
            (
                f"{where} day, next page (3)",
                median_ms(lambda q=base, c=pages[1].next_cursor: planner.search(q, c), args.repeat),
            )
        )
        results.append(
            (
                f"{where} day, prev page (2)",
                median_ms(lambda q=base, c=pages[2].prev_cursor: planner.search(q, c), args.repeat),
            )
        )
        one = pages[0].rows[0]
        results.append((f"find_log, {where}", median_ms(lambda o=one, q=base: planner.find_log(o.id, q), args.repeat)))

    boundary = logs.find({"timestamp": {"$gte": hot_day}}).sort("timestamp", 1).limit(1)[0]
    row = planner.find_log(str(boundary["_id"]), LogQuery((), first, today, ALL_LEVELS))
    assert row is not None
    found = planner.around(row, LogQuery((), first, today, ALL_LEVELS))
    sources = {r.source for r in found.before + found.after}
    results.append(
        (
            f"around, 50 each way ({'+'.join(sorted(sources))})",
            median_ms(lambda: planner.around(row, LogQuery((), first, today, ALL_LEVELS)), args.repeat),
        )
    )
    now = datetime.now(UTC)
    tail_query = LogQuery((), now - timedelta(days=1), now, ALL_LEVELS)
    cursor = livetail.tail(tail_query, None, now).cursor
    results.append(("tail poll, nothing new", median_ms(lambda: livetail.tail(tail_query, cursor, now), args.repeat)))

    print(f"{args.logs:,} logs (300 Zipf users) over 8 days, 7 archived; medians of {args.repeat}, parts cached; ms")
    print()
    print("| what | ms |")
    print("|---|---|")
    for name, ms in results:
        print(f"| {name} | {ms:.1f} |")
    logs.database.client.drop_database(logs.database.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
