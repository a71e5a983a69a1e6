"""Histograms of archived days: from the ledger's minute counts without reading an object, and exact where
the ledger may not count exactly (a keyword, parts written before minute counts)."""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from retrieval.query import LogQuery
from tests.cold_archive import GetCounter, write_parts

pytestmark = [
    pytest.mark.django_db(databases=["default", "logs"], transaction=True),
    pytest.mark.usefixtures("empty_cold_cache"),
]


MONTH = datetime(2023, 7, 1, tzinfo=UTC)


@pytest.fixture
def month():
    """31 archived (purged) days: two levels, logs at random times."""
    rng = random.Random(11)
    documents = [
        {
            "_id": ObjectId(),
            "timestamp": MONTH + timedelta(days=day, microseconds=rng.randrange(86_400 * 10**6) // 1000 * 1000),
            "user_id": 4,
            "level": ("info", "error")[n % 2],
            "message": ("Trained a model", "Recall dropped")[n % 5 == 0],
        }
        for day in range(31)
        for n in range(30)
    ]
    write_parts(documents, purged=True)
    return documents


def expected_volume(q: LogQuery, documents: list[dict]) -> Counter:
    return Counter((q.bucket_of(d["timestamp"]), d["level"]) for d in documents if q.matches(d))


def month_query(start: datetime, end: datetime, keyword: str = "") -> LogQuery:
    from retrieval.query import ALL_LEVELS

    return LogQuery(user_ids=(), start=start, end=end, levels=ALL_LEVELS, keyword=keyword)


@pytest.mark.parametrize(
    "start, end",
    [
        (MONTH, MONTH + timedelta(days=31)),  # day-wide buckets: every part in one
        (MONTH + timedelta(hours=7, minutes=13), MONTH + timedelta(days=30, hours=2, minutes=1)),
        (MONTH + timedelta(days=3, hours=5), MONTH + timedelta(days=4, hours=1)),  # 15-minute buckets
        (MONTH + timedelta(days=9, minutes=1), MONTH + timedelta(days=9, minutes=50)),  # 1-minute buckets
    ],
)
def test_histogram_of_archived_days_without_keyword_reads_no_object(month, start, end):
    from archive.source import ColdSource

    q = month_query(start, end)
    with GetCounter() as gets:
        counts = ColdSource().volume(q)

    assert len(gets) == 0
    assert counts == expected_volume(q, month) and sum(counts.values()) > 0


@pytest.mark.parametrize(
    "start, end, keyword",
    [
        (MONTH + timedelta(days=3, seconds=30), MONTH + timedelta(days=4, seconds=30), ""),  # buckets split minutes
        (MONTH + timedelta(days=3), MONTH + timedelta(days=4, hours=11, seconds=1), ""),  # the end splits one
        (MONTH, MONTH + timedelta(days=31), "recall"),  # a keyword: DuckDB counts
    ],
)
def test_histogram_that_the_ledger_may_not_count_exactly_is_exact(month, start, end, keyword):
    """Parts with logs in a split minute are read (which ones depends on the random times), the rest summed."""
    from archive.source import ColdSource

    q = month_query(start, end, keyword)
    with GetCounter() as gets:
        counts = ColdSource().volume(q)

    assert counts == expected_volume(q, month)
    if keyword:
        assert len(gets) == 31 * 2


def test_histogram_of_parts_without_minute_counts_reads_them():
    from archive.source import ColdSource

    documents = [
        {
            "_id": ObjectId(),
            "timestamp": MONTH + timedelta(minutes=7 * n),
            "user_id": 1,
            "level": "info",
            "message": "m",
        }
        for n in range(300)
    ]
    write_parts(documents, with_minutes=False, purged=True)
    q = month_query(MONTH, MONTH + timedelta(days=1))

    with GetCounter() as gets:
        counts = ColdSource().volume(q)

    assert len(gets) == 1
    assert counts == expected_volume(q, documents)
