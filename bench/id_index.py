"""Benchmark: the archive's id index (archive.idindex): its size, and a lookup by id.

    PYTHONPATH=. .venv/bin/python bench/id_index.py [--logs 100000] [--lookups 200]

Loads `--logs` logs of realistic traffic (300 Zipf users, `devservices.traffic`) over one day into
MongoDB, archives the day (the archiver writes the parts and their id index), then reports:
- the index object's bytes next to the parts' (compressed and raw) and the ledger's bytes for it
  (segments, fences);
- per lookup of a random archived id: the index segments asked (ranged reads of one block each),
  and the median and 95th percentile of `idindex.locate` and of `planner.find_log` (index + part read).
"""

import argparse
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_archived_traffic, percentile, run_with_services  # noqa: E402

DAY = date(2023, 8, 27)
START = datetime(2023, 8, 27, tzinfo=UTC)


def main(logs: int, lookups: int) -> int:
    from django.db.models import Sum
    from django.db.models.functions import Length

    from access.scope import EVERY
    from archive import cache, idindex, reader
    from archive.models import ArchivePart, IdIndex, IdIndexSegment
    from retrieval import planner
    from retrieval.filters import LogFilterSet

    load_archived_traffic(logs, START, START + timedelta(days=1), DAY + timedelta(days=1))
    parts = ArchivePart.objects.aggregate(raw=Sum("raw_bytes"), compressed=Sum("compressed_bytes"))
    index = IdIndex.objects.get()
    segments = IdIndexSegment.objects.filter(index=index)
    fence_chars = segments.aggregate(chars=Sum(Length("fences")))["chars"]
    print(f"logs archived: {index.logs:,} in {ArchivePart.objects.count():,} parts")
    print(
        f"index object: {index.size:,} bytes ({index.size / index.logs:.1f} per log); parts: "
        f"{parts['compressed']:,} bytes compressed, {parts['raw']:,} raw (index = "
        f"{100 * index.size / parts['compressed']:.1f}% of the parts' stored bytes)"
    )
    print(f"ledger: {segments.count()} segments, {fence_chars:,} characters of fences")

    every = LogFilterSet({}, scope=EVERY)
    assert every.is_valid()
    query = every.log_query()
    all_ids = [log_id for part in ArchivePart.objects.all() for log_id in reader.part_ids(part)]
    chosen = random.Random(1).sample(all_ids, min(lookups, len(all_ids)))
    asked, located, found = [], [], []
    for log_id in chosen:
        asked.append(IdIndexSegment.objects.filter(min_id__lte=log_id, max_id__gte=log_id).count())
        started = time.perf_counter()
        assert idindex.locate([log_id])[log_id]
        located.append(time.perf_counter() - started)
    cache.clear()  # find_log reads the part too: from object storage, as a first look at a log does
    for log_id in chosen:
        started = time.perf_counter()
        assert planner.find_log(log_id, query) is not None
        found.append(time.perf_counter() - started)
    print(f"segments asked per lookup: max {max(asked)}, mean {sum(asked) / len(asked):.2f}")
    for name, samples in (("idindex.locate", located), ("planner.find_log, part not cached", found)):
        print(
            f"{name}: median {1000 * percentile(samples, 0.5):.1f} ms, "
            f"p95 {1000 * percentile(samples, 0.95):.1f} ms over {len(samples)} ids"
        )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=200)
    arguments = parser.parse_args()
    sys.exit(
        run_with_services(
            lambda: main(arguments.logs, arguments.lookups), services=("mongodb", "s3"), ARCHIVE_STORAGE="s3"
        )
    )
