"""One search over hot (MongoDB) and cold (object storage): planner, page, API, seed route, exports, keywords
(histograms of archived days: test_cold_histogram.py)."""

import csv
import io
import json
import random
from collections import Counter
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta

import pytest
from bson import ObjectId
from django.http import QueryDict
from django.test import override_settings

from access.scope import EVERY
from archive.archiver import archive_logs
from archive.models import ArchivePart
from retrieval import hotstore, planner
from retrieval.filters import LogFilterSet
from retrieval.query import LogQuery
from tests.access_support import user_granted
from tests.cold_archive import GetCounter, s3_storages, silent_server, write_parts

pytestmark = [
    pytest.mark.django_db(databases=["default", "logs"], transaction=True),
    pytest.mark.usefixtures("empty_cold_cache"),
]

# Three archived days before BOUNDARY, two hot days from it.
FIRST_DAY = date(2023, 8, 24)
BOUNDARY = date(2023, 8, 27)
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(5)]
KEYWORDS = ["Recall", ".*", "(v2", "\\", "$where"]


@pytest.fixture
def logs(logs_db):
    """Logs of five days, three users, all levels; some messages with regex-looking text."""
    rng = random.Random(7)
    documents = []
    for day in DAYS:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        for n in range(120):
            special = KEYWORDS[n % 5] if n % 3 == 0 else "F1"
            documents.append(
                {
                    # Some logs share a timestamp: the cursor must tell them apart by _id.
                    "timestamp": start + timedelta(seconds=rng.randrange(0, 86_400, 60)),
                    "user_id": 1 + n % 3,
                    "level": ("debug", "info", "warning", "error", "critical")[n % 5],
                    "message": f"Trained a model (v2), {special}: 0.{n}",
                    "logger": "demo.trainer",
                    **({"context": {"run": n, "model": "m"}} if n % 4 == 0 else {}),
                }
            )
    hotstore.insert(documents)
    return documents


def query(params: str) -> LogQuery:
    filterset = LogFilterSet(QueryDict(params), scope=EVERY)
    assert filterset.is_valid(), filterset.form.errors
    return filterset.log_query()


QUERIES = [
    "from=2023-08-24T00:00:00Z&to=2023-08-29T00:00:00Z&page_size=37",
    "from=2023-08-24T00:00:00Z&to=2023-08-29T00:00:00Z&order=oldest&page_size=50",
    "from=2023-08-25T06:00:00Z&to=2023-08-27T18:00:00Z&user_id=2&page_size=9",
    "from=2023-08-24T00:00:00Z&to=2023-08-29T00:00:00Z&keyword=recall&page_size=11",
    "from=2023-08-24T00:00:00Z&to=2023-08-29T00:00:00Z&keyword=.*&order=oldest&page_size=7",
    "from=2023-08-24T00:00:00Z&to=2023-08-29T00:00:00Z&keyword=\\&min_level=error&page_size=5",
    "date=2023-08-26&user_id=1&level=critical&keyword=$where",
    "date=2023-08-25&user_id=1,3&min_level=warning&order=oldest&page_size=4",
]


def every_row(q: LogQuery) -> list:
    """All rows of the query, page by page through the planner's cursors."""
    rows, cursor = [], None
    while True:
        page = planner.search(q, cursor)
        assert not page.partial, page.sources
        rows += page.rows
        if page.next_cursor is None:
            return rows
        cursor = page.next_cursor


def without_source(rows) -> list[dict]:
    return [{k: v for k, v in asdict(row).items() if k != "source"} for row in rows]


def archive_old_days():
    run = archive_logs(before=BOUNDARY, trigger="test")
    assert run.status == "succeeded", run.error
    return run


def test_golden_equality_before_and_after_archiving(logs, logs_db):
    before = {params: every_row(query(params)) for params in QUERIES}
    histograms = {params: planner.histogram(query(params)).counts for params in QUERIES}
    assert all(before.values())
    assert all(row.source == "hot" for rows in before.values() for row in rows)

    archive_old_days()
    assert logs_db.count_documents({}) == 2 * 120  # only the two hot days are left in MongoDB

    for params in QUERIES:
        after = every_row(query(params))
        assert without_source(after) == without_source(before[params]), params
        assert planner.histogram(query(params)).counts == histograms[params], params
        for row in after:
            assert row.source == ("cold" if row.timestamp.date() < BOUNDARY else "hot")
    assert {row.source for row in every_row(query(QUERIES[0]))} == {"hot", "cold"}


def test_pagination_across_the_boundary_both_ways(logs):
    archive_old_days()
    for order in ("newest", "oldest"):
        q = query(f"from=2023-08-26T12:00:00Z&to=2023-08-27T12:00:00Z&order={order}&page_size=6")
        rows = every_row(q)
        chosen = [d for d in logs if q.matches(d)]
        chosen.sort(key=lambda d: (d["timestamp"], str(d["_id"])), reverse=q.newest_first)
        assert [r.id for r in rows] == [str(d["_id"]) for d in chosen]
        sources = [r.source for r in rows]
        assert "hot" in sources and "cold" in sources
        # One switch between the sources, at the boundary, in the query's order.
        assert sources == sorted(sources, reverse=order == "newest")  # "hot" > "cold"


def test_a_log_both_archived_and_still_in_mongodb_is_counted_once(logs):
    # The archiver's window between recording a part and deleting its logs (or a crash in it).
    day_logs = [d for d in logs if d["timestamp"].date() == FIRST_DAY]
    write_parts(day_logs)
    assert ArchivePart.objects.filter(purged__isnull=True).exists()
    q = query("date=2023-08-24&page_size=13")

    rows = every_row(q)

    assert sorted(r.id for r in rows) == sorted(str(d["_id"]) for d in day_logs)
    assert {r.source for r in rows} == {"hot"}  # the hot copy wins
    assert sum(planner.histogram(q).counts.values()) == len(day_logs)


def test_object_storage_down_gives_hot_rows_marked_partial(logs):
    archive_old_days()
    q = query("from=2023-08-24T00:00:00Z&to=2023-08-29T00:00:00Z&page_size=1000")

    with override_settings(STORAGES=s3_storages("http://127.0.0.1:9")):
        page = planner.search(q)
        chart = planner.histogram(q)

    assert page.partial
    assert page.sources["hot"] == "ok"
    assert page.sources["cold"].startswith("unavailable: archived logs could not be read from object storage")
    assert len(page.rows) == 2 * 120 and {r.source for r in page.rows} == {"hot"}
    # Archived days without a keyword are counted from the ledger: the histogram needs no object.
    assert not chart.partial and sum(chart.counts.values()) == 5 * 120


def test_slow_object_storage_gives_partial_results_in_bounded_time(logs):
    archive_old_days()
    q = query("date=2023-08-25")

    started = datetime.now(UTC)
    with silent_server() as url, override_settings(STORAGES=s3_storages(url)):
        page = planner.search(q)

    assert page.partial and "timeout" in page.sources["cold"].lower()
    assert page.rows == []
    assert datetime.now(UTC) - started < timedelta(seconds=15)


def test_api_marks_rows_and_reports_sources(api, logs):
    archive_old_days()

    params = {"from": "2023-08-26T00:00:00Z", "to": "2023-08-28T00:00:00Z", "page_size": "1000"}
    body = api.get("/api/v1/logs", params).json()

    assert body["sources"] == {"hot": "ok", "cold": "ok"} and body["partial"] is False
    assert {row["source"] for row in body["results"]} == {"hot", "cold"}
    for row in body["results"]:
        assert row["source"] == ("cold" if row["timestamp"] < "2023-08-27" else "hot")


def test_api_with_storage_down_is_partial_not_an_error(api, logs):
    archive_old_days()

    with override_settings(STORAGES=s3_storages("http://127.0.0.1:9")):
        response = api.get("/api/v1/logs", {"from": "2023-08-24T00:00:00Z", "to": "2023-08-29T00:00:00Z"})

    assert response.status_code == 200
    body = response.json()
    assert body["partial"] is True and body["sources"]["hot"] == "ok"
    assert body["sources"]["cold"] == "unavailable"  # the reason (and the endpoint) is for staff only
    assert body["results"] and {row["source"] for row in body["results"]} == {"hot"}


@pytest.fixture
def user_client(client):
    client.force_login(user_granted("engineer"))
    return client


def test_page_marks_cold_rows_and_says_when_results_are_partial(user_client, logs):
    archive_old_days()

    page = user_client.get("/", {"date": "2023-08-25", "user_id": "2"})
    assert page.status_code == 200
    assert page.content.count(b"(cold)") == len(
        [d for d in logs if d["timestamp"].date() == date(2023, 8, 25) and d["user_id"] == 2]
    )

    with override_settings(STORAGES=s3_storages("http://127.0.0.1:9")):
        down = user_client.get("/", {"date": "2023-08-25"})
    assert down.status_code == 200
    assert b"Partial results" in down.content and b"cold storage unavailable" in down.content
    assert b"reload this page to try again" in down.content


def test_seed_route_answers_from_cold_storage(api, logs):
    archive_old_days()
    expected = sorted(
        (d for d in logs if d["timestamp"].date() == date(2023, 8, 25) and d["user_id"] == 3 and d["level"] == "error"),
        key=lambda d: (d["timestamp"], str(d["_id"])),
    )

    response = api.get("/logs/date/2023-08-25/user/3/level/error")

    assert response.status_code == 200
    records = json.loads(b"".join(response.streaming_content))
    assert [r["log_message"] for r in records] == [d["message"] for d in expected]
    assert api.get("/logs/date/2023-08-25/user/3/level/error", {"keyword": "no such text"}).status_code == 404


def test_exports_stream_across_both_sources(user_client, logs):
    archive_old_days()
    params = {"from": "2023-08-24T00:00:00Z", "to": "2023-08-29T00:00:00Z", "order": "oldest"}

    csv_response = user_client.get("/export.csv", params)
    jsonl_response = user_client.get("/export.jsonl", params)

    assert csv_response.streaming and jsonl_response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(csv_response.streaming_content).decode())))
    lines = [json.loads(line) for line in b"".join(jsonl_response.streaming_content).splitlines()]
    ordered = sorted(logs, key=lambda d: (d["timestamp"], str(d["_id"])))
    assert [r["id"] for r in rows] == [line["id"] for line in lines] == [str(d["_id"]) for d in ordered]
    assert Counter(r["source"] for r in rows) == {"cold": 3 * 120, "hot": 2 * 120}


def test_a_repeated_search_of_an_archived_day_does_not_touch_object_storage(logs):
    archive_old_days()
    q = query("date=2023-08-25&keyword=recall")

    with GetCounter() as gets:
        first = planner.search(q)
        pulled = len(gets)
        again = planner.search(replace(q, newest_first=False))
        planner.histogram(q)

    assert pulled == ArchivePart.objects.filter(day=date(2023, 8, 25)).count() == 15  # 3 users x 5 levels
    assert len(gets) == pulled
    assert sorted(r.id for r in first.rows) == sorted(r.id for r in again.rows)


def test_late_arrivals_archived_in_a_second_part_of_the_day_merge_in_order(logs, logs_db):
    archive_old_days()
    late = [
        {
            "timestamp": datetime(2023, 8, 25, 12, 0, 30, tzinfo=UTC),
            "user_id": 1,
            "level": "info",
            "message": "late one",
        },
        {
            "timestamp": datetime(2023, 8, 25, 23, 59, 59, tzinfo=UTC),
            "user_id": 1,
            "level": "info",
            "message": "late two",
        },
    ]
    hotstore.insert(late)
    archive_old_days()
    assert ArchivePart.objects.filter(day=date(2023, 8, 25), user_id=1, level="info").count() == 2

    q = query("date=2023-08-25&user_id=1&level=info&order=oldest&page_size=3")
    rows = every_row(q)

    chosen = sorted((d for d in logs + late if q.matches(d)), key=lambda d: (d["timestamp"], str(d["_id"])))
    assert [r.id for r in rows] == [str(d["_id"]) for d in chosen]
    assert {r.source for r in rows} == {"cold"} and {"late one", "late two"} <= {r.message for r in rows}


# Keywords whose case-insensitive meaning differs between lower(), casefold() and simple case folding.
TRICKY_MESSAGES = [
    "Straße gesperrt",
    "STRASSE gesperrt",
    "strasse gesperrt",
    "GROẞE Straße",
    "İstanbul office",
    "istanbul office",
    "ISTANBUL office",
    "ΟΔΟΣ κλειστή",
    "οδος κλειστη",
    "οδοσ κλειστη",
    "cooled to 4 \u212a",
    "cooled to 4 k",
    "cooled to 4 K",
    "\u017fpecial long s",
    "Special",
]
TRICKY_KEYWORDS = ["ß", "ss", "SS", "ẞ", "straße", "STRASSE", "İ", "i", "I", "i̇", "ς", "σ", "Σ", "ΟΔΟΣ", "οδος"]
TRICKY_KEYWORDS += ["\u212a", "k", "K", "4 \u212a", "\u017f", "s", "ſpecial", "SPECIAL"]


def test_tricky_keywords_find_the_same_logs_hot_and_cold(logs_db):
    from archive.source import ColdSource
    from retrieval.query import ALL_LEVELS
    from retrieval.sources import HotSource

    day = datetime(2023, 8, 20, tzinfo=UTC)
    documents = [
        {"_id": ObjectId(), "timestamp": day + timedelta(minutes=n), "user_id": 1, "level": "info", "message": message}
        for n, message in enumerate(TRICKY_MESSAGES)
    ]
    hotstore.insert(documents)
    write_parts(documents, purged=True)  # so the cold source counts them too, as if MongoDB did not hold them

    for keyword in TRICKY_KEYWORDS:
        q = LogQuery(user_ids=(), start=day, end=day + timedelta(days=1), levels=ALL_LEVELS, keyword=keyword)
        hot = [row.id for row in HotSource().fetch(q, None, 100)]
        cold = [row.id for row in ColdSource().fetch(q, None, 100)]
        python = [str(d["_id"]) for d in sorted(documents, key=lambda d: d["timestamp"], reverse=True) if q.matches(d)]
        assert hot == cold == python, keyword
        assert sum(ColdSource().volume(q).values()) == sum(HotSource().volume(q).values()) == len(cold), keyword
    # What simple case folding means, spelt out (docs/ferretdb.md, "Keyword case"):
    assert found_messages(documents, "ß") == ["Straße gesperrt", "GROẞE Straße"]  # not "STRASSE"
    assert found_messages(documents, "İ") == ["İstanbul office"]  # not "istanbul"
    assert found_messages(documents, "ς") == ["ΟΔΟΣ κλειστή", "οδος κλειστη", "οδοσ κλειστη"]
    assert found_messages(documents, "\u212a") == ["cooled to 4 \u212a", "cooled to 4 k", "cooled to 4 K"]


def found_messages(documents: list[dict], keyword: str) -> list[str]:
    from retrieval.query import ALL_LEVELS

    day = documents[0]["timestamp"]
    q = LogQuery(user_ids=(), start=day, end=day + timedelta(days=1), levels=ALL_LEVELS, keyword=keyword)
    return [d["message"] for d in documents if q.matches(d)]
