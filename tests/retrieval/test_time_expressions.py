"""from/to as Grafana-style relative times, resolved against a clock given to the filterset; no server needed."""

from datetime import UTC, datetime, timedelta

import pytest
from django.http import QueryDict
from django.utils.http import urlencode

from access.scope import EVERY
from retrieval.filters import LogFilterSet
from retrieval.timeexpr import TIME_FORMATS, parse_time_expression

# A Wednesday afternoon.
NOW = datetime(2023, 8, 30, 15, 42, 17, 250000, tzinfo=UTC)
MIDNIGHT = datetime(2023, 8, 30, tzinfo=UTC)


def form(params: dict, now: datetime = NOW) -> LogFilterSet:
    return LogFilterSet(QueryDict(urlencode(params)), scope=EVERY, now=now)


def time_range(params: dict) -> tuple[datetime, datetime]:
    filterset = form(params)
    assert filterset.is_valid(), filterset.form.errors
    query = filterset.log_query()
    return query.start, query.end


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("now", NOW),
        ("now-15m", NOW - timedelta(minutes=15)),
        ("now-6h", NOW - timedelta(hours=6)),
        ("now-2d", NOW - timedelta(days=2)),
        ("now-7d", NOW - timedelta(days=7)),
        ("now+1h", NOW + timedelta(hours=1)),
        ("now-1d-6h", NOW - timedelta(days=1, hours=6)),
        ("now-30s", NOW - timedelta(seconds=30)),
        ("now/d", MIDNIGHT),
        ("now-2d/d", MIDNIGHT - timedelta(days=2)),
        ("now/h", datetime(2023, 8, 30, 15, tzinfo=UTC)),
        ("now-1h/m", datetime(2023, 8, 30, 14, 42, tzinfo=UTC)),
        ("now/w", datetime(2023, 8, 28, tzinfo=UTC)),  # the Monday
        ("today", MIDNIGHT),
        ("yesterday", MIDNIGHT - timedelta(days=1)),
    ],
)
def test_relative_times_resolve_against_the_given_clock(text, moment):
    expression = parse_time_expression(text)
    assert expression is not None and expression.relative
    assert expression.resolve(NOW) == moment


def test_a_relative_from_alone_runs_to_now_and_an_absolute_one_for_the_default_span():
    assert time_range({"from": "now-6h"}) == (NOW - timedelta(hours=6), NOW)
    assert time_range({"from": "yesterday", "to": "today"}) == (MIDNIGHT - timedelta(days=1), MIDNIGHT)
    assert time_range({"from": "2023-08-27T12:00:00+02:00"}) == (
        datetime(2023, 8, 27, 10, tzinfo=UTC),
        datetime(2023, 8, 28, 10, tzinfo=UTC),
    )
    assert time_range({"to": "now/d"}) == (MIDNIGHT - timedelta(days=1), MIDNIGHT)


def test_the_range_is_echoed_as_typed_and_empty_parameters_are_left_out():
    filterset = form({"from": "now-6h", "to": "now", "keyword": "", "level": ""})
    assert filterset.is_valid()
    assert filterset.log_query().to_params() == {"from": "now-6h", "to": "now"}
    filterset = form({})
    assert filterset.is_valid() and set(filterset.log_query().to_params()) == {"from", "to"}


@pytest.mark.parametrize("text", ["last tuesday", "now-", "now-5y", "now-1.5h", "now/2d", "Now", "now-9999999d"])
def test_an_unparsable_time_is_an_error_naming_the_field_and_the_formats(text):
    filterset = form({"from": text})
    assert not filterset.is_valid()
    assert filterset.form.errors["from"] == [TIME_FORMATS]


def test_a_relative_time_past_the_supported_range_is_out_of_range_not_an_error_page():
    filterset = form({"from": "now-999999w"})
    assert not filterset.is_valid() and "Out of range" in filterset.form.errors["from"][0]


def test_the_errors_speak_in_words_not_parameter_names():
    both = form({"date": "2023-08-27", "from": "now-1h"})
    assert not both.is_valid() and both.form.errors["date"] == ["Give a day or a from/to range, not both."]
    levels = form({"level": "debug", "min_level": "error"})
    assert not levels.is_valid()
    assert levels.form.errors["level"] == ["None of the chosen levels is “error” or more severe."]


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("today", MIDNIGHT),
        ("yesterday", MIDNIGHT - timedelta(days=1)),
        ("now-2d/d", MIDNIGHT - timedelta(days=2)),
        ("now-40h", MIDNIGHT - timedelta(days=2)),  # the day holding that moment
        ("2023-08-27", datetime(2023, 8, 27, tzinfo=UTC)),
    ],
)
def test_a_day_takes_the_relative_times_from_takes_and_keeps_them_as_typed(text, day):
    assert time_range({"date": text}) == (day, day + timedelta(days=1))
    filterset = form({"date": text})
    assert filterset.is_valid() and filterset.log_query().to_params() == {"date": text}


def test_a_day_that_is_neither_a_date_nor_a_relative_time_is_an_error_naming_date():
    for text in ("tomorrow", "20230827", "2023-08-27T10:00:00Z"):
        filterset = form({"date": text})
        assert not filterset.is_valid() and "today, yesterday" in filterset.form.errors["date"][0]
