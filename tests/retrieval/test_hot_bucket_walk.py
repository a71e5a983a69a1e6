"""The hot source's bucket walk (HOT_BUCKET_WALK=on) reads the same pages as one query (off).

Real-shape data: 300 Zipf users over three days around now, logs that arrive late (old
times, inserted last, with sender ids), a few from the future (the live tail reads up to
now + 1 day), a burst in the last minutes (read in ticks) and ties on one timestamp told
apart by `_id`. Every search is paged to its
end, with page sizes that put cursors inside buckets and pages across hour and day bounds.
"""

import random
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from devservices import traffic
from retrieval import hotstore, sources
from retrieval.query import ALL_LEVELS, LogQuery, LogRow
from retrieval.sources import HotSource

pytestmark = pytest.mark.django_db(databases=["default", "logs"])

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def traffic_logs(logs_db) -> list[dict]:
    documents = list(traffic.documents(3000, NOW - timedelta(days=3), NOW + timedelta(hours=2), users=300, seed=7))
    late = traffic.late_documents(200, (NOW - timedelta(days=2)).date(), users=300, seed=7)
    tie = NOW - timedelta(hours=5)
    ties = [
        {"_id": ObjectId(), "timestamp": tie, "user_id": 1, "level": "info", "message": f"tie {n}"} for n in range(30)
    ]
    burst = list(traffic.documents(600, NOW - timedelta(minutes=3), NOW + timedelta(seconds=20), users=300, seed=8))
    everything = documents + late + ties + burst
    hotstore.insert(everything)
    return everything


def all_pages(source: HotSource, query: LogQuery, page_size: int) -> list[list[str]]:
    pages: list[list[str]] = []
    after = None
    while True:
        rows: list[LogRow] = source.fetch(query, after, page_size)
        if not rows:
            return pages
        pages.append([row.id for row in rows])
        after = (rows[-1].timestamp, rows[-1].id)


def searches(documents: list[dict]) -> list[tuple[LogQuery, int]]:
    rng = random.Random(19)
    counts: dict[int, int] = {}
    for document in documents:
        counts[document["user_id"]] = counts.get(document["user_id"], 0) + 1
    heaviest = max(counts, key=counts.__getitem__)
    # The user with the fewest logs among those with errors: a sparse user + error search.
    sparse = min({d["user_id"] for d in documents if d["level"] == "error"}, key=counts.__getitem__)
    day_ago = NOW - timedelta(days=1)
    found = []
    for newest_first in (True, False):
        shapes = [
            dict(user_ids=(), start=day_ago, end=NOW),  # the landing page
            dict(user_ids=(), start=NOW - timedelta(seconds=30), end=NOW + timedelta(days=1)),  # the live tail
            dict(user_ids=(heaviest,), start=NOW - timedelta(days=4), end=NOW + timedelta(days=1)),
            dict(user_ids=(sparse,), start=NOW - timedelta(days=4), end=NOW + timedelta(days=1), levels=("error",)),
            dict(user_ids=(heaviest, sparse), start=day_ago - timedelta(hours=7), end=NOW, keyword="loss"),
            dict(user_ids=(1,), start=NOW - timedelta(hours=6), end=NOW - timedelta(hours=4)),  # the ties
            dict(user_ids=(), start=NOW - timedelta(days=2, hours=3), end=NOW - timedelta(days=1), q="-level:debug"),
        ]
        for shape in shapes:
            levels = shape.pop("levels", ALL_LEVELS)
            query = LogQuery(levels=levels, newest_first=newest_first, **shape)  # type: ignore[arg-type]
            found.append((query, rng.choice([3, 23, 61, 150])))
    return found


def test_the_bucket_walk_reads_the_same_pages_as_one_query(traffic_logs, settings) -> None:
    source = HotSource()
    for query, page_size in searches(traffic_logs):
        # Today's shape, read once to the end: its pages are this list cut every page_size rows.
        settings.HOT_BUCKET_WALK = "off"
        every = [row.id for row in source.fetch(query, None, len(traffic_logs))]
        assert every, query  # every search finds logs: the comparison is not between two empty lists
        settings.HOT_BUCKET_WALK = "on"
        walked = all_pages(source, query, page_size)
        assert walked == [every[n : n + page_size] for n in range(0, len(every), page_size)], (query, page_size)


def test_the_live_tail_reads_the_newest_minutes_in_ticks_and_the_future_by_the_ahead_flag(
    logs_db, settings, monkeypatch
) -> None:
    """At a high rate the current hour holds millions of logs: no read of it may be an `hour` equality."""
    now = datetime.now(UTC)
    recent = list(traffic.documents(500, now - timedelta(seconds=40), now, users=300, seed=9))
    ahead = [
        {"_id": ObjectId(), "timestamp": now + delta, "user_id": 7, "level": "warning", "message": f"ahead {delta}"}
        for delta in (timedelta(seconds=30), timedelta(hours=3))
    ]
    hotstore.insert(recent + ahead)
    assert logs_db.count_documents({"ahead": 1}) == 2
    filters: list[dict] = []
    find_rows = sources.find_rows
    monkeypatch.setattr(sources, "find_rows", lambda f, *args: filters.append(f) or find_rows(f, *args))
    settings.HOT_BUCKET_WALK = "on"

    tail = LogQuery((), now - timedelta(seconds=30), now + timedelta(days=1), ALL_LEVELS, newest_first=False)
    rows = all_pages(HotSource(), tail, 100)

    expected = logs_db.find({"timestamp": {"$gte": tail.start}}, {"_id": 1}).sort([("timestamp", 1), ("_id", 1)])
    assert [row for page in rows for row in page] == [str(d["_id"]) for d in expected]
    assert not [f for f in filters if "hour" in f or "day" in f], filters
    assert {"ahead": 1}.items() <= filters[-1].items()


def test_a_log_query_by_id_needs_no_bucket(logs_db, settings) -> None:
    # Stored without buckets: a lookup by id does not walk, so it still finds it.
    [log_id] = logs_db.insert_many([{"timestamp": NOW, "user_id": 4, "level": "info", "message": "m"}]).inserted_ids
    settings.HOT_BUCKET_WALK = "on"
    query = LogQuery((4,), NOW - timedelta(days=1), NOW + timedelta(days=1), ALL_LEVELS, log_id=str(log_id))
    assert [row.id for row in HotSource().fetch(query, None, 10)] == [str(log_id)]
