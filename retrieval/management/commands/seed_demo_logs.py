import itertools
import time
from datetime import UTC, date, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from retrieval import hotstore
from retrieval.demo import demo_days, generate_demo_logs
from retrieval.models import LogEntry


class Command(BaseCommand):
    help = "Insert demo logs (users 1-5, all levels) spread over the last N UTC days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=7, help="how many days, ending today (default 7)")
        parser.add_argument("--per-day", type=int, default=5000, help="logs per day (default 5000)")
        parser.add_argument("--seed", type=int, default=None, help="random seed, for repeatable data")
        parser.add_argument(
            "--until", type=date.fromisoformat, default=None, help="last day, YYYY-MM-DD (default today)"
        )
        parser.add_argument("--batch-size", type=int, default=10_000)
        parser.add_argument("--if-empty", action="store_true", help="do nothing when the collection has logs")

    def handle(
        self,
        *args: Any,
        days: int,
        per_day: int,
        seed: int | None,
        until: date | None,
        batch_size: int,
        if_empty: bool,
        **options: Any,
    ) -> None:
        if days < 1 or per_day < 0 or batch_size < 1:
            raise CommandError("--days and --batch-size must be at least 1, --per-day at least 0")
        collection = LogEntry.collection()
        if if_empty and collection.find_one({}, {"_id": 1}) is not None:
            self.stdout.write("Logs already present; not seeding.")
            return
        now = datetime.now(UTC)
        documents = generate_demo_logs(demo_days(days, until or now.date()), per_day, seed, not_after=now)
        total = days * per_day
        started = time.perf_counter()
        with tqdm(total=total, unit="log", disable=options["verbosity"] < 1, file=self.stderr) as progress:
            while batch := list(itertools.islice(documents, batch_size)):
                hotstore.insert(batch)
                progress.update(len(batch))
        elapsed = time.perf_counter() - started
        rate = total / elapsed if elapsed else 0.0
        self.stdout.write(f"Inserted {total:,} logs over {days} days in {elapsed:.1f}s ({rate:,.0f} logs/s).")
