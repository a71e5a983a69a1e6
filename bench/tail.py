"""The live tail keeping up: lag between a log's arrival and the poll answer that brings it.

    .venv/bin/python bench/tail.py --minutes 10 --rate 500

On a throwaway embedded default (FerretDB on PostgreSQL) holding `--history` logs of the week
before (realistic traffic, `devservices.traffic`), a writer thread stores `--rate` logs a second
(batches every 0.1 s, each log stamped with the time it is stored) for `--minutes`, while a tail
polls as the search page does: `livetail.tail` of `from=now-15m`, every user, pages of 100 rows
(the search page's), again at once after a full page, else after TAIL_POLL_SECONDS. For each row
of each answer, lag = the answer's time - the log's timestamp (its arrival). Prints the lag per
minute and overall (p50, p95, max), the polls' time, and whether every stored log was sent
once (after the writer stops the tail drains, for at most DRAIN_SECONDS: a tail that fell
behind reports the logs it had not sent by then). Exit status 1 when the lag ever reached 5 s or a
log was missed or sent twice.
"""

import argparse
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import percentile, run_with_services  # noqa: E402

LAG_LIMIT_SECONDS = 5.0
TICK_SECONDS = 0.1
DRAIN_SECONDS = 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=int, default=500, help="logs stored per second")
    parser.add_argument("--history", type=int, default=20_000, help="logs of the week before, stored first")
    args = parser.parse_args()
    return run_with_services(lambda: run(args))


class Writer(threading.Thread):
    """Stores `rate` logs a second, stamped with the time they are stored, until stopped."""

    def __init__(self, rate: int) -> None:
        super().__init__(daemon=True)
        self.rate = rate
        self.stop = threading.Event()
        self.stored = 0
        self.seconds = 0.0

    def run(self) -> None:
        from devservices import traffic
        from retrieval import hotstore

        started = time.monotonic()
        last = datetime.now(UTC)
        tick = 0
        while not self.stop.is_set():
            tick += 1
            # Catch up with the clock: a slow insert makes the next batch bigger, not the rate lower.
            due = round(self.rate * (time.monotonic() - started)) - self.stored
            now = datetime.now(UTC)
            if due > 0 and now > last:
                batch = list(traffic.documents(due, last, now, seed=tick, sender_ids=True))
                hotstore.insert(batch)
                self.stored += len(batch)
                last = now
            self.stop.wait(TICK_SECONDS)
        self.seconds = time.monotonic() - started


def run(args: argparse.Namespace) -> int:
    from django.conf import settings
    from django.core.management import call_command
    from django.http import QueryDict

    from access.scope import EVERY
    from devservices import traffic
    from retrieval import hotstore, livetail
    from retrieval.filters import LogFilterSet
    from retrieval.models import LogEntry

    logs = LogEntry.collection()
    logs.database.client.drop_database(logs.database.name)
    call_command("migrate", verbosity=0)
    call_command("migrate", database="logs", verbosity=0)
    end = datetime.now(UTC) - timedelta(minutes=20)
    for batch in traffic.batches(traffic.documents(args.history, end - timedelta(days=7), end, seed=1), 10_000):
        hotstore.insert(batch)
    print(f"tail bench: {args.history:,} logs of history, {args.rate}/s for {args.minutes:g} min", file=sys.stderr)

    def query(now: datetime):  # the search page's "Last 15 min", every user, pages of 100
        filterset = LogFilterSet(QueryDict("from=now-15m"), scope=EVERY, now=now)
        assert filterset.is_valid(), filterset.form.errors
        return filterset.log_query()

    writer = Writer(args.rate)
    deadline = time.monotonic() + args.minutes * 60
    started = time.monotonic()
    cursor = livetail.tail_cursor([], datetime.now(UTC))
    received: dict[str, int] = {}
    lags: list[tuple[float, float]] = []  # (seconds since start, lag)
    polls: list[float] = []
    partial = 0  # polls MongoDB did not answer in time (SEARCH_TIMEOUT_SECONDS): asked again, same cursor
    writer.start()
    draining = False
    while True:
        now = datetime.now(UTC)
        asked = time.monotonic()
        page = livetail.tail(query(now), cursor, now)
        polls.append(time.monotonic() - asked)
        answered = datetime.now(UTC)
        for row in page.rows:
            received[row.id] = received.get(row.id, 0) + 1
            lags.append((asked - started, (answered - row.timestamp).total_seconds()))
        cursor = page.cursor
        partial += page.partial
        if not draining and time.monotonic() >= deadline:
            writer.stop.set()
            writer.join()
            draining = True
        elif draining and (not (page.full or page.partial) or time.monotonic() > deadline + DRAIN_SECONDS):
            break
        if not page.full and not page.partial and not draining:
            time.sleep(settings.TAIL_POLL_SECONDS)

    all_lags = [lag for _, lag in lags]
    print("minute  rows     lag p50   p95     max (s)")
    for minute in range(int(args.minutes + 0.999)):
        window = [lag for at, lag in lags if minute * 60 <= at < (minute + 1) * 60]
        if window:
            print(
                f"{minute + 1:>6}  {len(window):>7,}  {percentile(window, 0.5):6.2f}  "
                f"{percentile(window, 0.95):6.2f}  {max(window):6.2f}"
            )
    twice = sum(1 for count in received.values() if count > 1)
    missed = writer.stored - len(received)  # or not sent yet, when the drain ran out of time
    worst = max(all_lags, default=0.0)
    print(
        f"stored {writer.stored:,} logs in {writer.seconds:.0f} s ({writer.stored / writer.seconds:.0f}/s); "
        f"sent {len(received):,}, not sent {missed:,}, sent twice {twice:,}"
    )
    print(
        f"lag p50 {percentile(all_lags, 0.5):.2f} s, p95 {percentile(all_lags, 0.95):.2f} s, max {worst:.2f} s; "
        f"{len(polls):,} polls ({partial} unanswered), p50 {percentile(polls, 0.5) * 1000:.0f} ms, p95 {percentile(polls, 0.95) * 1000:.0f} ms, "
        f"max {max(polls) * 1000:.0f} ms"
    )
    ok = worst < LAG_LIMIT_SECONDS and missed == 0 and twice == 0
    print(f"{'OK' if ok else 'FAILED'}: lag under {LAG_LIMIT_SECONDS:g} s, every log sent once")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
