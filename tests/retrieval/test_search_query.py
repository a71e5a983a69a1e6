"""Parsing and validation of search parameters (LogFilterSet -> LogQuery); no server needed."""

from datetime import UTC, datetime, timedelta

import pytest
from django.http import QueryDict

from access.scope import EVERY
from retrieval.filters import LogFilterSet
from retrieval.query import ALL_LEVELS, Cursor, LogQuery, decode_cursor

DAY = datetime(2023, 8, 27, tzinfo=UTC)


def parse(query_string: str) -> LogFilterSet:
    return LogFilterSet(QueryDict(query_string), scope=EVERY)


def query(query_string: str) -> LogQuery:
    filterset = parse(query_string)
    assert filterset.is_valid(), filterset.form.errors
    return filterset.log_query()


def test_a_date_is_a_whole_utc_day():
    q = query("date=2023-08-27")
    assert (q.start, q.end) == (DAY, DAY + timedelta(days=1))


def test_from_and_to_are_a_half_open_range_and_offsets_become_utc():
    q = query("from=2023-08-27T10:00:00%2B02:00&to=2023-08-27T12:00")
    assert q.start == datetime(2023, 8, 27, 8, tzinfo=UTC)
    assert q.end == datetime(2023, 8, 27, 12, tzinfo=UTC)


def test_without_a_time_the_query_covers_the_last_day(settings):
    settings.SEARCH_DEFAULT_SPAN_HOURS = 24
    before = datetime.now(UTC)
    q = query("")
    assert before <= q.end <= datetime.now(UTC)
    assert q.end - q.start == timedelta(hours=24)


def test_user_ids_can_be_repeated_or_comma_separated():
    assert query("user_id=4").user_ids == (4,)
    assert query("user_id=4,1&user_id=2").user_ids == (1, 2, 4)
    assert query("").user_ids == ()


def test_levels_can_be_listed_or_given_as_a_minimum():
    assert query("level=error&level=debug").levels == ("debug", "error")
    assert query("level=error,critical").levels == ("error", "critical")
    assert query("min_level=warning").levels == ("warning", "error", "critical")
    assert query("").levels == ALL_LEVELS


def test_levels_with_a_minimum_are_those_listed_at_or_above_it():
    assert query("level=debug,error,critical&min_level=warning").levels == ("error", "critical")
    assert query("level=info&min_level=info").levels == ("info",)


def test_keyword_order_and_page_size():
    q = query("keyword=Recall&order=oldest&page_size=1000")
    assert (q.keyword, q.newest_first, q.limit) == ("Recall", False, 1000)
    assert query("").newest_first and query("").limit == 100


@pytest.mark.parametrize(
    ("query_string", "field"),
    [
        ("date=2023-02-30", "date"),
        ("date=27-08-2023", "date"),
        ("date=20230827", "date"),
        ("level=fatal", "level"),
        ("min_level=fatal", "min_level"),
        ("user_id=abc", "user_id"),
        ("user_id=-1", "user_id"),
        ("user_id=99999999999", "user_id"),
        ("user_id[$ne]=1", "user_id[$ne]"),
        ("keyword[$regex]=.*", "keyword[$regex]"),
        ("keyword=" + "x" * 10_000, "keyword"),
        ("keyword=a%00b", "keyword"),
        ("from=2023-08-28&to=2023-08-27", "to"),
        ("from=2023-08-27&to=2023-08-27", "to"),
        ("from=2023-01-01&to=2023-08-27", "from"),
        ("from=9999-12-31T12:00:00", "from"),
        ("to=0001-01-01T01:00:00", "to"),
        ("from=the day before", "from"),
        ("date=2023-08-27&from=2023-08-27T01:00", "date"),
        ("level=debug,info&min_level=error", "level"),
        ("user_id=\u0661", "user_id"),
        ("date=\u0662\u0660\u0662\u0663-08-27", "date"),
        ("page_size=100000", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=1.5", "page_size"),
        ("order=sideways", "order"),
        ("cursor=forged", "cursor"),
    ],
)
def test_bad_input_is_a_form_error_naming_the_parameter(query_string, field):
    filterset = parse(query_string)
    assert not filterset.is_valid()
    assert field in filterset.form.errors


def test_a_cursor_is_signed_and_bound_to_the_order():
    position = (DAY + timedelta(seconds=1, microseconds=123000), "64eb3a0f1c9d440000000001")
    token = Cursor(position, newest_first=True).encode()
    assert decode_cursor(token, newest_first=True).position == position
    assert "cursor" in parse(f"cursor={token}&order=oldest").form.errors
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert "cursor" in parse(f"cursor={tampered}").form.errors
    assert parse(f"cursor={token}").is_valid()


@pytest.mark.parametrize(
    "query_string",
    ["date=2023-08-27", "user_id=1,4&min_level=error&keyword=Re.call (x&order=oldest&page_size=7&date=2023-08-27"],
)
def test_a_query_round_trips_through_its_url_parameters(query_string):
    original = query(query_string)
    params = QueryDict(mutable=True)
    params.update(original.to_params())
    assert query(params.urlencode()) == original


def test_keyword_matching_is_literal_and_case_insensitive():
    q = query("date=2023-08-27&keyword=.* ($where")
    document = {"timestamp": DAY, "level": "info", "user_id": 1, "message": "saw .* ($WHERE here"}
    assert q.matches(document)
    assert not q.matches({**document, "message": "saw anything here"})
    assert q.mongo_filter()["message"] == {"$regex": r"\.\*\ \(\$where", "$options": "i"}


def test_histogram_buckets_cover_the_range_with_at_most_sixty_bars():
    day = query("date=2023-08-27")
    assert day.bucket_width == timedelta(minutes=30)
    assert len(day.buckets()) == 48 and day.buckets()[0] == DAY
    assert day.bucket_of(DAY + timedelta(hours=5, minutes=44)) == DAY + timedelta(hours=5, minutes=30)
    month = query("from=2023-08-01&to=2023-08-31")
    assert len(month.buckets()) <= 60


def test_one_user_or_one_level_is_a_plain_equality_and_several_an_in() -> None:
    one = query("user_id=4&date=2023-08-27&level=error").mongo_filter()
    assert one == {"user_id": 4, "level": "error", "timestamp": {"$gte": DAY, "$lt": DAY + timedelta(days=1)}}

    several = query("user_id=1,4&date=2023-08-27&level=error,critical").mongo_filter()
    assert several["user_id"] == {"$in": [1, 4]}
    assert several["level"] == {"$in": ["error", "critical"]}
    assert query("date=2023-08-27").mongo_filter()["level"] == {"$in": list(ALL_LEVELS)}
    assert "user_id" not in query("date=2023-08-27").mongo_filter()


def test_a_cursor_keeps_the_filter_flat_with_its_tie_break_after_the_time_range() -> None:
    position = (DAY + timedelta(hours=3), "6b0a077aeb4753088777858b")
    after = query("user_id=4&date=2023-08-27&level=error&keyword=Recall").mongo_filter(position)
    assert list(after) == ["user_id", "level", "timestamp", "$or", "message"]
    assert after["user_id"] == 4 and after["level"] == "error"
    assert after["timestamp"]["$lte"] == position[0]
