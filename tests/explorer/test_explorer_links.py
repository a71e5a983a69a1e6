"""The explorer's links and histogram axis, without a browser: no empty parameters, q terms quoted, round ticks."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.http import QueryDict

from explorer.charts import round_step, stacked_bars
from explorer.forms import search_query_string
from explorer.links import query_url, refined, search_url, with_levels, with_term, zoomed
from retrieval.planner import Histogram

START = datetime(2023, 8, 27, tzinfo=UTC)


def test_search_links_carry_only_parameters_with_a_value_and_no_cursor():
    assert search_url({"keyword": "", "user_id": "4", "level": None}) == "/?user_id=4"
    assert search_url({}) == "/"
    assert refined({"date": "2023-08-27", "cursor": "abc"}, user_id="4") == {"date": "2023-08-27", "user_id": "4"}
    assert zoomed({"date": "2023-08-27"}, START, START + timedelta(hours=1)) == {
        "from": "2023-08-27T00:00:00.000000Z",
        "to": "2023-08-27T01:00:00.000000Z",
    }


def test_levels_link_drops_the_parameter_when_every_level_is_shown():
    assert with_levels({"level": "error", "min_level": "warning"}, ["critical", "error"]) == {"level": "error,critical"}
    assert "level" not in with_levels({"level": "error"}, ["debug", "info", "warning", "error", "critical"])


@pytest.mark.parametrize(
    ("field", "value", "exclude", "q"),
    [
        ("user_id", 4, True, "x -user_id:4"),
        ("logger", "eval.metrics", False, "x logger:eval.metrics"),
        ("logger", 'my "app": main', True, 'x -logger:"my \\"app\\": main"'),
    ],
)
def test_drill_down_terms_are_added_to_q_and_quoted_when_needed(field, value, exclude, q):
    assert with_term({"q": " x ", "cursor": "c"}, field, value, exclude) == {"q": q}


def test_a_saved_search_keeps_repeated_parameters_and_drops_empty_ones_and_the_cursor():
    kept = search_query_string(QueryDict("user_id=1&user_id=4&keyword=&cursor=abc&date=2023-08-27"))
    assert kept == "user_id=1&user_id=4&date=2023-08-27"
    assert query_url(kept) == "/?" + kept and query_url("") == "/"


@pytest.mark.parametrize(("tallest", "step"), [(0, 1), (3, 1), (7, 2), (14, 5), (37, 10), (180, 50), (2345, 1000)])
def test_y_axis_steps_are_one_two_or_five_times_a_power_of_ten(tallest, step):
    assert round_step(tallest) == step


def test_histogram_bars_link_to_their_range_and_the_axis_tops_at_a_round_tick():
    buckets = [START + timedelta(minutes=30 * i) for i in range(3)]
    counts = Counter({(buckets[0], "error"): 3, (buckets[1], "info"): 14, (buckets[1], "error"): 1})
    chart = stacked_bars(Histogram(buckets, counts), START + timedelta(minutes=90), lambda a, b: f"{a:%H%M}-{b:%H%M}")
    assert [bar.href for bar in chart["bars"]] == ["0000-0030", "0030-0100", "0100-0130"]
    assert [tick.value for tick in chart["ticks"]] == [0, 5, 10, 15]
    assert chart["total"] == 18 and chart["tallest"] == 15
    assert chart["bars"][1].label == "2023-08-27 00:30 to 01:00 UTC: 15 logs (1 error, 14 info)"
    assert chart["bars"][2].segments == [] and chart["bars"][2].label.endswith("0 logs")
