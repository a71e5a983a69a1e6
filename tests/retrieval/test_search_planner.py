"""The planner and the hot source against the real MongoDB-protocol server."""

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.http import QueryDict

from access.scope import EVERY
from retrieval import planner
from retrieval.filters import LogFilterSet
from retrieval.query import LogQuery, LogRow
from retrieval.sources import HotSource, SourceUnavailable

pytestmark = pytest.mark.django_db(databases=["default", "logs"])

DAY = datetime(2023, 8, 27, tzinfo=UTC)


def query(query_string: str) -> LogQuery:
    filterset = LogFilterSet(QueryDict(query_string), scope=EVERY)
    assert filterset.is_valid(), filterset.form.errors
    return filterset.log_query()


@pytest.fixture
def logs(logs_db, make_log):
    """A small fixed set: three users, all levels, two days, keywords with regex characters."""
    made = []
    for minute in range(40):
        made.append(
            make_log(
                timestamp=DAY + timedelta(minutes=37 * minute),
                user_id=1 + minute % 3,
                level=("debug", "info", "warning", "error", "critical")[minute % 5],
                message=f"Validated a new model. User: {1 + minute % 3}, {'Recall' if minute % 4 == 0 else 'F1'}: 0.{minute}",
            )
        )
    made.append(
        make_log(timestamp=DAY + timedelta(hours=3), user_id=4, level="error", message="odd .* ( \\ $where text")
    )
    made.append(make_log(timestamp=DAY - timedelta(seconds=1), user_id=1, level="error", message="the day before"))
    made.append(make_log(timestamp=DAY + timedelta(days=1), user_id=1, level="error", message="the day after"))
    return made


def expected(documents: list[dict], q: LogQuery) -> list[str]:
    """What the query should return, computed in Python from the inserted documents."""
    chosen = [d for d in documents if q.matches({**d, "timestamp": d["timestamp"]})]
    chosen.sort(key=lambda d: (d["timestamp"], str(d["_id"])), reverse=q.newest_first)
    return [str(d["_id"]) for d in chosen]


def all_ok() -> dict[str, str]:
    """Every configured source answered (generic: the list grows as sources are added)."""
    return {source.name: "ok" for source in planner.log_sources()}


def ids(rows: list[LogRow]) -> list[str]:
    return [row.id for row in rows]


@pytest.mark.parametrize(
    "query_string",
    [
        "date=2023-08-27&page_size=1000",
        "date=2023-08-27&user_id=2&page_size=1000",
        "date=2023-08-27&user_id=1,3&page_size=1000",
        "date=2023-08-27&level=error&page_size=1000",
        "date=2023-08-27&level=debug,critical&page_size=1000",
        "date=2023-08-27&min_level=warning&page_size=1000",
        "date=2023-08-27&keyword=recall&page_size=1000",
        "date=2023-08-27&keyword=RECALL: 0.1&page_size=1000",
        "date=2023-08-27&user_id=1&min_level=error&keyword=Recall&page_size=1000",
        "date=2023-08-27&order=oldest&page_size=1000",
        "from=2023-08-27T05:00&to=2023-08-27T09:15&page_size=1000",
        "from=2023-08-26T23:00&to=2023-08-28T00:00:00.001&level=error&page_size=1000",
        "date=2023-08-27&user_id=4&level=error&page_size=1000",
    ],
)
def test_each_parameter_and_combination_returns_exactly_the_matching_logs(logs, query_string):
    q = query(query_string)
    want = expected(logs, q)
    assert want, "the case should match something"
    page = planner.search(q)
    assert ids(page.rows) == want
    assert page.sources == all_ok() and not page.partial and page.next_cursor is None


@pytest.mark.parametrize("keyword", [".*", "(", "\\", "$where", "odd .* ( \\ $where"])
def test_regex_and_operator_characters_are_searched_as_literal_text(logs, keyword):
    q = LogQuery((), DAY, DAY + timedelta(days=1), ("error",), keyword=keyword)
    rows = planner.search(q).rows
    assert [row.message for row in rows] == ["odd .* ( \\ $where text"]


def test_rows_carry_every_field_in_utc(logs):
    row = planner.search(query("date=2023-08-27&user_id=4")).rows[0]
    assert row.timestamp == DAY + timedelta(hours=3) and row.timestamp.tzinfo is not None
    assert (row.user_id, row.level, row.source) == (4, "error", "hot")
    assert len(row.id) == 24


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_cursor_pages_lose_and_repeat_nothing_while_logs_arrive(logs_db, make_log, order):
    # Many rows share a timestamp, so the cursor must tell them apart by id.
    for i in range(30):
        make_log(timestamp=DAY + timedelta(minutes=i // 4), message=f"row {i}")
    q = query(f"date=2023-08-27&page_size=7&order={order}")
    seen, cursor, pages = [], None, 0
    while True:
        page = planner.search(q, cursor)
        seen.extend(ids(page.rows))
        pages += 1
        # Logs arrive between pages: at the top, inside the pages already read, and outside the range.
        make_log(timestamp=DAY + timedelta(minutes=2), message="late, inside the range")
        make_log(timestamp=DAY + timedelta(days=2), message="outside the range")
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)), "a row was repeated"
    first_snapshot = {str(d["_id"]) for d in logs_db.find({"message": {"$regex": "^row "}})}
    assert first_snapshot <= set(seen), "a row was lost"
    assert pages >= 5


def test_iter_all_streams_every_row_in_order(logs):
    q = query("date=2023-08-27&order=oldest&page_size=3")
    assert [row.id for row in planner.iter_all(q)] == expected(logs, q)


def test_histogram_counts_logs_per_bucket_and_level(logs):
    q = query("date=2023-08-27")
    result = planner.histogram(q)
    want = Counter((q.bucket_of(d["timestamp"]), d["level"]) for d in logs if q.matches(d))
    assert result.counts == want
    assert sum(result.counts.values()) == len(expected(logs, q))
    assert result.sources == all_ok()


class ListSource:
    """A source over a Python list: the planner's contract without a server."""

    def __init__(self, name: str, rows: list[LogRow]):
        self.name, self.rows = name, rows

    def fetch(self, query, after, limit):
        rows = sorted((r for r in self.rows if query.start <= r.timestamp < query.end), key=query.sort_key)
        if query.newest_first:
            rows.reverse()
        if after is not None:
            rows = [r for r in rows if (query.sort_key(r) < after if query.newest_first else query.sort_key(r) > after)]
        return rows[:limit]

    def volume(self, query):
        return Counter((query.bucket_of(r.timestamp), r.level) for r in self.rows)


class DownSource:
    name = "down"

    def fetch(self, query, after, limit):
        raise SourceUnavailable("object storage timed out")

    def volume(self, query):
        raise SourceUnavailable("object storage timed out")


@pytest.fixture
def sources(monkeypatch):
    def use(*extra):
        configured = planner.log_sources()
        monkeypatch.setattr(planner, "log_sources", lambda: [*configured, *extra])

    return use


def cold_row(document: dict | None = None, minutes: int = 0, message: str = "from the archive") -> LogRow:
    if document:
        return replace(HotSource.row(document), source="cold", message="cold copy")
    return LogRow(f"{minutes:024x}", DAY + timedelta(minutes=minutes), 1, "info", message, source="cold")


def test_rows_from_several_sources_are_merged_in_order_and_a_shared_id_is_kept_once_from_hot(logs, sources):
    shared = logs[5]
    sources(ListSource("listed", [cold_row(minutes=1), cold_row(minutes=2000 % 1440), cold_row(shared)]))
    q = query("date=2023-08-27&page_size=1000")
    rows = planner.search(q).rows
    keys = [q.sort_key(r) for r in rows]
    assert keys == sorted(keys, reverse=True)
    assert [r.source for r in rows].count("cold") == 2
    assert next(r for r in rows if r.id == str(shared["_id"])).source == "hot"
    assert len(rows) == len({r.id for r in rows})


def test_pages_across_sources_follow_one_cursor(logs, sources):
    sources(ListSource("listed", [cold_row(minutes=m) for m in (1, 500, 900)]))
    q = query("date=2023-08-27&page_size=4&order=oldest")
    all_rows = planner.search(replace(q, limit=1000)).rows
    paged, cursor = [], None
    while True:
        page = planner.search(q, cursor)
        paged.extend(page.rows)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert ids(paged) == ids(all_rows)


def test_an_unavailable_source_makes_the_page_partial_and_the_others_still_answer(logs, sources):
    sources(DownSource())
    q = query("date=2023-08-27&user_id=4")
    page = planner.search(q)
    assert ids(page.rows) == expected(logs, q)
    assert page.partial
    assert page.sources == {**all_ok(), "down": "unavailable: object storage timed out"}
    histogram = planner.histogram(q)
    assert histogram.partial and sum(histogram.counts.values()) == 1
    with pytest.raises(SourceUnavailable):
        list(planner.iter_all(q))
