"""The explorer's backend: paging both ways, one log by id, the logs around one, the live tail, aligned buckets."""

import os
import random
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from django.conf import settings
from django.http import QueryDict
from django.utils.http import urlencode

from access.scope import EVERY
from retrieval import hotstore, livetail, planner
from retrieval.filters import LogFilterSet
from retrieval.query import LogQuery
from tests.cold_archive import log, write_parts

pytestmark = [
    pytest.mark.django_db(databases=["default", "logs"], transaction=True),
    pytest.mark.usefixtures("empty_cold_cache", "empty_archive"),
]

COLD_DAY = datetime(2023, 8, 27, tzinfo=UTC)
HOT_DAY = COLD_DAY + timedelta(days=1)
LEVELS = ("debug", "info", "warning", "error", "critical")
ROW_FIELDS = {"id", "timestamp", "level", "user_id", "logger", "message", "context", "source", "metrics"}


def id_at(moment: datetime) -> ObjectId:
    """An id carrying the log's own second, as ingest makes them."""
    return ObjectId(ObjectId.from_datetime(moment).binary[:4] + os.urandom(8))


@pytest.fixture
def split_logs(logs_db):
    """150 archived logs of COLD_DAY (10 users) and 150 hot logs of HOT_DAY (40 users), timestamps shared by several."""
    rng = random.Random(3)

    def made(day: datetime, n: int, where: str) -> dict:
        users = 10 if where == "cold" else 40  # fewer archive parts to write
        document = log(
            day + timedelta(seconds=rng.randrange(0, 86_400, 600)),
            user_id=n % users,
            level=LEVELS[(n // users) % 5],  # a user's logs at several levels
            message=f"{where} {n}",
            logger="demo.trainer",
            context={"n": n},
        )
        # Archived ids carry their time (the archive is found by it); hot ones are the server's.
        return {**document, "_id": id_at(document["timestamp"])} if where == "cold" else document

    cold = [made(COLD_DAY, n, "cold") for n in range(150)]
    hot = [made(HOT_DAY, n, "hot") for n in range(150)]
    hotstore.insert([dict(d) for d in hot])
    write_parts(cold, purged=True)
    return cold, hot


def query(params: dict, now: datetime | None = None) -> LogQuery:
    filterset = LogFilterSet(QueryDict(urlencode(params)), scope=EVERY, now=now)
    assert filterset.is_valid(), filterset.form.errors
    return filterset.log_query()


def ids(page: planner.SearchPage) -> list[str]:
    return [row.id for row in page.rows]


BOTH_DAYS = {"from": "2023-08-27", "to": "2023-08-29", "page_size": "60"}


def test_previous_pages_are_exactly_the_pages_before_across_hot_and_cold(split_logs, api):
    for order in ("newest", "oldest"):
        walk_forward_three_pages_and_back_two(query({**BOTH_DAYS, "order": order}))
    # The API: the same, with links that hold no empty parameter.
    response = api.get("/api/v1/logs", {**BOTH_DAYS, "keyword": "", "q": "-level:debug"})
    body = response.json()
    assert body["offset"] == 1 and body["prev_cursor"] is None and body["previous"] is None
    assert "keyword=" not in body["next"] and "q=-level%3Adebug" in body["next"]
    second = api.get(body["next"]).json()
    assert second["offset"] == 61 and second["previous"]
    assert [r["id"] for r in api.get(second["previous"]).json()["results"]] == [r["id"] for r in body["results"]]


def walk_forward_three_pages_and_back_two(q: LogQuery) -> None:
    pages = [planner.search(q)]
    for _ in range(2):
        pages.append(planner.search(q, pages[-1].next_cursor))
    assert [page.offset for page in pages] == [1, 61, 121]
    assert {row.source for row in pages[2].rows} == {"hot", "cold"}  # the third page crosses the boundary
    assert pages[0].prev_cursor is None
    back = planner.search(q, pages[2].prev_cursor)
    assert ids(back) == ids(pages[1]) and back.offset == 61
    first = planner.search(q, back.prev_cursor)
    assert ids(first) == ids(pages[0]) and first.offset == 1 and first.prev_cursor is None
    assert ids(planner.search(q, back.next_cursor)) == ids(pages[2])
    every = [row.id for page in pages for row in page.rows]
    assert len(set(every)) == 180


def test_a_relative_range_is_echoed_as_typed_and_pinned_by_the_cursor(split_logs):
    now = HOT_DAY + timedelta(hours=23)
    params = {"from": "now-2d", "page_size": "60"}
    first = query(params, now=now)
    assert (first.start, first.end) == (now - timedelta(days=2), now)
    assert first.to_params() == {"from": "now-2d", "page_size": "60"}
    page = planner.search(first)
    later = query({**params, "cursor": page.next_cursor}, now=now + timedelta(hours=5))
    assert (later.start, later.end) == (first.start, first.end)
    assert ids(planner.search(later, page.next_cursor))[0] not in ids(page)
    # Another range with the same cursor is read as typed, at its own time.
    moved = query({"from": "now-1d", "page_size": "60", "cursor": page.next_cursor}, now=now)
    assert moved.start == now - timedelta(days=1)


def test_a_day_stays_a_day_in_permalinks_so_a_new_day_can_be_typed_after_paging():
    params = query({"date": "2023-08-28", "page_size": "60"}).to_params()
    assert params == {"date": "2023-08-28", "page_size": "60"}
    assert query({**params, "date": "2023-08-27"}).start == COLD_DAY


def test_one_log_is_found_by_id_hot_or_cold_with_every_field(split_logs, api):
    cold, hot = split_logs
    every = query({})
    for document, source in ((cold[7], "cold"), (hot[7], "hot")):
        row = planner.find_log(str(document["_id"]), every)
        assert row is not None and (row.source, row.message, row.context) == (source, document["message"], {"n": 7})
        response = api.get(f"/api/v1/logs/{document['_id']}")
        assert response.status_code == 200, response.content
        assert set(response.json()) == ROW_FIELDS and response.json()["source"] == source
    assert planner.find_log(str(id_at(COLD_DAY + timedelta(hours=3))), every) is None
    assert api.get(f"/api/v1/logs/{id_at(COLD_DAY)}").status_code == 404
    malformed = api.get("/api/v1/logs/not-an-id")
    assert malformed.status_code == 400 and list(malformed.json()) == ["id"]
    # A reader without a grant for the log's user is told nothing more than for an unknown id.
    others = query({"user_id": str((cold[7]["user_id"] + 1) % 40)})
    assert planner.find_log(str(cold[7]["_id"]), others) is None


def test_the_logs_around_one_cross_from_hot_to_cold_for_the_same_user_at_every_level(split_logs, api):
    cold, hot = split_logs
    user = 3
    mine = sorted(
        (d for d in cold + hot if d["user_id"] == user), key=lambda d: (d["timestamp"], str(d["_id"]))
    )  # 4 archived, then 4 hot
    first_hot = next(i for i, d in enumerate(mine) if d["timestamp"] >= HOT_DAY)
    row = planner.find_log(str(mine[first_hot]["_id"]), query({}))
    found = planner.around(row, query({}), before=2, after=50)
    assert [r.id for r in found.before] == [str(d["_id"]) for d in mine[first_hot - 2 : first_hot]]
    assert [r.id for r in found.after] == [str(d["_id"]) for d in mine[first_hot + 1 :]]
    assert {r.source for r in found.before} == {"cold"} and not found.partial
    assert len({r.level for r in found.before + found.after}) > 1
    response = api.get(f"/api/v1/logs/{row.id}/context", {"before": 50, "after": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["log"]["id"] == row.id and len(body["before"]) == first_hot and len(body["after"]) == 1
    assert api.get(f"/api/v1/logs/{row.id}/context", {"before": 201}).json().keys() == {"before"}
    assert api.get(f"/api/v1/logs/{row.id}/context", {"around": 1}).json().keys() == {"around"}


def test_the_tail_sends_only_new_logs_oldest_first_and_never_an_id_twice(logs_db, api, make_log):
    now = datetime.now(UTC).replace(microsecond=0)
    for n in range(5):
        make_log(timestamp=now - timedelta(minutes=10 - n), message=f"old {n}", user_id=1)
    make_log(timestamp=now, message="someone else", user_id=2)
    q = query({"user_id": "1", "page_size": "3"}, now=now)
    first = livetail.tail(q, None, now)
    assert [row.message for row in first.rows] == ["old 2", "old 3", "old 4"] and first.full
    nothing_new = livetail.tail(q, first.cursor, now)
    assert nothing_new.rows == [] and not nothing_new.full
    sent = {row.id for row in first.rows}
    # New logs, and one late (stamped before the newest sent, within the overlap).
    for n in range(4):
        make_log(timestamp=now - timedelta(minutes=5) + timedelta(seconds=n + 1), message=f"new {n}", user_id=1)
    make_log(timestamp=now - timedelta(minutes=6, seconds=10), message="late", user_id=1)
    polls, cursor = [], first.cursor
    for _ in range(3):
        page = livetail.tail(q, cursor, now)
        polls.append([row.message for row in page.rows])
        # A full page says more may be waiting: clients poll again at once.
        assert page.full == (len(page.rows) == 3)
        assert not sent & {row.id for row in page.rows}
        sent |= {row.id for row in page.rows}
        cursor = page.cursor
    assert polls == [["late", "new 0", "new 1"], ["new 2", "new 3"], []]
    response = api.get("/api/v1/logs/tail", {"user_id": 1, "page_size": 2})
    assert response.status_code == 200 and response["Retry-After"] == str(settings.TAIL_POLL_SECONDS)
    body = response.json()
    assert [row["message"] for row in body["results"]] == ["new 2", "new 3"]
    assert body["poll_seconds"] == settings.TAIL_POLL_SECONDS
    again = api.get("/api/v1/logs/tail", {"user_id": 1, "page_size": 2, "after": body["cursor"]})
    assert again.json()["results"] == []
    assert api.get("/api/v1/logs/tail", {"after": "forged"}).json().keys() == {"after"}
    assert api.get("/api/v1/logs/tail", {"cursor": "x"}).json().keys() == {"cursor"}


def test_a_tail_of_a_range_that_ended_is_refused_naming_its_parameter_and_a_later_end_is_kept(logs_db, api, make_log):
    today = datetime.now(UTC).date()
    ended = {
        "date": {"date": "1970-01-01"},
        "to": {"from": "2023-01-01T00:00:00Z", "to": "2023-01-02"},
        "from": {"from": "2023-01-01T00:00:00Z"},  # its default span after it, long over
    }
    for parameter, params in ended.items():
        refused = api.get("/api/v1/logs/tail", params)
        assert refused.status_code == 400 and refused.json().keys() == {parameter}
        assert "runs to now" in refused.json()[parameter][0]
    make_log(timestamp=datetime.now(UTC) - timedelta(seconds=5), message="just now", user_id=3)
    assert [r["message"] for r in api.get("/api/v1/logs/tail", {"date": f"{today}"}).json()["results"]] == ["just now"]

    # A range that runs to now follows the clock (logs stamped ahead too); a later end is honoured.
    noon = datetime(2023, 8, 28, 12, tzinfo=UTC)
    make_log(timestamp=noon - timedelta(hours=1), message="this morning", user_id=4)
    make_log(timestamp=noon + timedelta(hours=13), message="stamped tomorrow", user_id=4)
    day = query({"date": "2023-08-28", "user_id": "4"}, now=noon)
    assert [row.message for row in livetail.tail(day, None, noon).rows] == ["this morning"]
    running = query({"from": "now-2h", "user_id": "4"}, now=noon)
    assert [row.message for row in livetail.tail(running, None, noon).rows] == ["this morning", "stamped tomorrow"]
    with pytest.raises(livetail.TailRangeEnded):
        livetail.tail(day, None, noon + timedelta(days=1))


def test_histogram_buckets_start_on_round_times_and_count_only_the_range(logs_db, make_log):
    start = HOT_DAY + timedelta(hours=12, minutes=3)
    for minute in (0, 2, 3, 4, 9, 64, 66, 67, 70):  # 12:00 ... 13:10; 12:00, 12:02 and 13:07+ are outside
        make_log(timestamp=HOT_DAY + timedelta(hours=12, minutes=minute))
    q = query({"from": start.isoformat(), "to": (start + timedelta(minutes=64)).isoformat()})
    assert q.bucket_width == timedelta(minutes=5)
    buckets = q.buckets()
    assert buckets[0] == HOT_DAY + timedelta(hours=12) and buckets[-1] == HOT_DAY + timedelta(hours=13, minutes=5)
    assert all(bucket.minute % 5 == 0 and bucket.second == 0 for bucket in buckets)
    histogram = planner.histogram(q)
    assert histogram.total == 5
    per_bucket = {bucket: sum(n for (b, _), n in histogram.counts.items() if b == bucket) for bucket in buckets}
    assert per_bucket[buckets[0]] == 2 and per_bucket[buckets[1]] == 1 and per_bucket[buckets[-1]] == 1


def test_the_api_takes_relative_times_and_lists_the_formats_it_takes(logs_db, api):
    relative = api.get("/api/v1/logs", {"from": "yesterday"})
    assert relative.status_code == 200
    refused = api.get("/api/v1/logs", {"from": "last tuesday"})
    assert refused.status_code == 400 and "now-15m" in refused.json()["from"][0]
