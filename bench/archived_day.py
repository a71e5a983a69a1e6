"""An archived day's search, with and without asking MongoDB for it, same data, same run.

    .venv/bin/python bench/archived_day.py --logs 100000 --repeat 7

Loads realistic traffic (`devservices.traffic`, 300 Zipf users) over the 8 UTC days before
today into a throwaway FerretDB, archives every day but the newest one (the local
folder storage), then times `planner.search` and `planner.histogram` for one archived
day, parts already in the disk cache:

  - now:    LOG_SOURCES as configured (archive.hot.HotSource skips the emptied day)
  - before: retrieval.sources.HotSource, which asks MongoDB for every day

and prints medians (ms) and the ratio before / now.
"""

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_archived_traffic, run_with_services  # noqa: E402

BEFORE = ["retrieval.sources.HotSource", "archive.source.ColdSource"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    return run_with_services(lambda: run(args), ARCHIVE_STORAGE="file")


def run(args: argparse.Namespace) -> int:
    from django.test import override_settings

    from retrieval import planner
    from retrieval.query import ALL_LEVELS, LogQuery

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=8)
    logs, _ = load_archived_traffic(args.logs, first, today, (today - timedelta(days=1)).date())

    day = first + timedelta(days=3)
    shapes = {
        "user+day+level": LogQuery((1,), day, day + timedelta(days=1), ("error",)),
        "day, all users": LogQuery((), day, day + timedelta(days=1), ALL_LEVELS),
        "day, all users, keyword": LogQuery((), day, day + timedelta(days=1), ALL_LEVELS, keyword="NaN"),
    }
    lines = [
        f"{args.logs:,} logs (300 Zipf users) over 8 days, 7 archived; one archived day; medians of "
        f"{args.repeat} after a warm-up (parts cached); ms",
        "",
        "| shape | rows | search now | search before | before / now | histogram now | histogram before | before / now |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, query in shapes.items():
        timings: dict[str, list[float]] = {}
        rows = {}
        for label, sources in (("now", None), ("before", BEFORE)):
            overrides = {"LOG_SOURCES": sources} if sources else {}
            with override_settings(**overrides):
                page = planner.search(query)  # warm-up: parts into the cache
                assert not page.partial, page.sources
                rows[label] = [row.id for row in page.rows]
                for what, call in (("search", planner.search), ("histogram", planner.histogram)):
                    samples = []
                    for _ in range(args.repeat):
                        started = time.perf_counter()
                        call(query)
                        samples.append((time.perf_counter() - started) * 1000)
                    timings[f"{what} {label}"] = samples
        assert rows["now"] == rows["before"], f"{name}: the two ways disagree"
        p50 = {key: statistics.median(samples) for key, samples in timings.items()}
        lines.append(
            f"| {name} | {len(rows['now'])} | {p50['search now']:.1f} | {p50['search before']:.1f} | "
            f"{p50['search before'] / p50['search now']:.1f}x | {p50['histogram now']:.1f} | "
            f"{p50['histogram before']:.1f} | {p50['histogram before'] / p50['histogram now']:.1f}x |"
        )
        print(lines[-1], file=sys.stderr)
    print("\n".join(lines))
    logs.database.client.drop_database(logs.database.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
