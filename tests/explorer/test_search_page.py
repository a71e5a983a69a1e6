"""The search page at / and its CSV / JSON Lines exports."""

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from tests.access_support import user_granted
from tests.bad_search_input import BAD_SEARCH_INPUT

pytestmark = pytest.mark.django_db(databases=["default", "logs"])

DAY = datetime(2023, 8, 27, tzinfo=UTC)


@pytest.fixture
def user_client(client):
    client.force_login(user_granted("engineer"))
    return client


@pytest.fixture
def logs(logs_db, make_log):
    return [
        make_log(timestamp=DAY + timedelta(hours=h), user_id=4, level=level, message=f"Recall: 0.{h} <b>{h}</b>")
        for h, level in enumerate(["error", "info", "error", "critical", "error"])
    ]


def test_the_page_needs_a_login(client, logs_db):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_login_page_renders(client, db):
    response = client.get("/accounts/login/")
    assert response.status_code == 200 and b'name="password"' in response.content


def test_results_show_time_level_user_and_the_keyword_highlighted_and_escaped(user_client, logs):
    response = user_client.get("/", {"date": "2023-08-27", "user_id": "4", "level": "error", "keyword": "recall"})
    assert response.status_code == 200
    page = response.context["page"]
    assert [row.message for row in page.rows] == [
        "Recall: 0.4 <b>4</b>",
        "Recall: 0.2 <b>2</b>",
        "Recall: 0.0 <b>0</b>",
    ]
    html = response.content.decode()
    assert "<mark>Recall</mark>: 0.4 &lt;b&gt;4&lt;/b&gt;" in html
    assert '<a class="badge error" href=' in html
    assert "2023-08-27 04:00:00" in html


def test_the_permalink_and_export_links_hold_the_whole_query(user_client, logs):
    response = user_client.get("/", {"date": "2023-08-27", "min_level": "critical", "keyword": "recall"})
    permalink = response.context["permalink"]
    # The day as given, so that typing another day after following the link is not "a day and a range".
    assert "date=2023-08-27" in permalink and "from=" not in permalink and "level=critical" in permalink
    again = user_client.get(permalink)
    assert [r.id for r in again.context["page"].rows] == [r.id for r in response.context["page"].rows]
    assert len(again.context["page"].rows) == 1


def test_the_page_shows_rows_without_computing_the_histogram_which_it_links_to(user_client, logs):
    response = user_client.get("/", {"date": "2023-08-27", "user_id": "4"})
    assert len(response.context["page"].rows) == 5 and "chart" not in response.context
    slot = re.search(r'<div class="histogram-slot" id="histogram" data-src="([^"]+)"', response.content.decode())
    assert slot and unescape(slot[1]) == "/histogram?date=2023-08-27&user_id=4"
    assert f'<iframe class="histogram-frame" src="{slot[1]}"' in response.content.decode()  # without JavaScript


def test_the_histogram_is_stacked_by_level_over_the_range(user_client, logs):
    response = user_client.get("/histogram", {"date": "2023-08-27", "user_id": "4"})
    chart = response.context["chart"]
    assert chart["total"] == 5 and len(chart["bars"]) == 48 and chart["bucket"] == "30 min"
    first = chart["bars"][0]
    assert [(s.level, s.count) for s in first.segments] == [("error", 1)]
    assert b'<rect class="critical"' in response.content


def test_next_page_link_follows_the_cursor(user_client, logs):
    first = user_client.get("/", {"date": "2023-08-27", "page_size": "2"})
    second = user_client.get(first.context["next_url"])
    third = user_client.get(second.context["next_url"])
    messages = [r.message for resp in (first, second, third) for r in resp.context["page"].rows]
    assert len(messages) == 5 == len(set(messages))
    assert third.context["next_url"] is None


def test_an_empty_result_says_so(user_client, logs):
    response = user_client.get("/", {"date": "2023-08-26"})
    assert response.status_code == 200
    assert b'id="empty"' in response.content and b'id="results"' not in response.content


@pytest.mark.parametrize(("params", "field"), BAD_SEARCH_INPUT)
def test_bad_input_is_a_form_error_naming_the_field(user_client, logs_db, params, field):
    response = user_client.get("/", params)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert b'class="errorlist"' in response.content
    assert "page" not in response.context


def test_csv_export_streams_every_row_of_the_query(user_client, logs):
    response = user_client.get("/export.csv", {"date": "2023-08-27", "user_id": "4", "page_size": "2"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    # The export ignores the page size: the whole result.
    assert [r["message"] for r in rows] == [f"Recall: 0.{h} <b>{h}</b>" for h in (4, 3, 2, 1, 0)]
    assert rows[0]["timestamp"] == "2023-08-27T04:00:00.000000Z" and rows[0]["level"] == "error"


def test_csv_export_neutralises_spreadsheet_formulas(user_client, logs_db, make_log):
    make_log(timestamp=DAY, message='=HYPERLINK("http://x")')
    response = user_client.get("/export.csv", {"date": "2023-08-27"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["message"] == '\'=HYPERLINK("http://x")'


def test_jsonl_export_is_one_log_per_line(user_client, logs):
    response = user_client.get("/export.jsonl", {"date": "2023-08-27", "level": "error", "order": "oldest"})
    assert response.status_code == 200 and response.streaming
    lines = b"".join(response.streaming_content).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["timestamp"][11:13] for r in records] == ["00", "02", "04"]
    assert set(records[0]) == {
        "id",
        "timestamp",
        "user_id",
        "level",
        "message",
        "logger",
        "context",
        "source",
        "metrics",
    }


def test_export_of_bad_input_is_a_400_naming_the_field(user_client, logs_db):
    response = user_client.get("/export.csv", {"level": "fatal"})
    assert response.status_code == 400 and "level" in response.json()
    assert user_client.get("/export.xml").status_code == 404


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize(("params", "field"), BAD_SEARCH_INPUT)
def test_exports_answer_each_bad_input_with_a_400_naming_the_field(user_client, logs_db, fmt, params, field):
    response = user_client.get(f"/export.{fmt}", params)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    "params",
    [
        {"from": "1970-01-01T00:00:00Z", "to": "1970-01-02T00:00:00Z"},
        {"from": "1970-01-01T23:59:00+23:59"},
        {"to": "9998-12-31T23:59:59Z"},
        {"date": "9998-12-31"},
    ],
)
def test_the_edges_of_the_searchable_range_answer_an_empty_page(user_client, logs, params):
    response = user_client.get("/", params)
    assert response.status_code == 200, response.context["form"].errors
    assert b'id="empty"' in response.content
    assert user_client.get(response.context["permalink"]).status_code == 200


def test_page_shows_log_times_to_the_millisecond(user_client, logs_db, make_log):
    make_log(timestamp=datetime(2023, 8, 27, 23, 43, 40, 961000, tzinfo=UTC), user_id=4)

    response = user_client.get("/", {"date": "2023-08-27", "user_id": "4"})

    assert "2023-08-27 23:43:40.961<" in response.content.decode()


def test_the_local_time_choice_is_kept_for_the_user_and_a_bad_value_is_a_400_naming_it(user_client, logs):
    assert b'data-local-time="0"' in user_client.get("/").content
    refused = user_client.post("/preferences/time", {"local_time": "yes"})
    assert refused.status_code == 400 and "local_time" in refused.json()
    assert user_client.post("/preferences/time", {"local_time": "1"}).status_code == 204
    page = user_client.get("/", {"date": "2023-08-27"})
    assert b'data-local-time="1"' in page.content and b'id="local-time" checked' in page.content
    assert user_client.post("/preferences/time", {"local_time": "0"}).status_code == 204
    assert b'data-local-time="0"' in user_client.get("/").content


def test_the_live_tail_switch_is_offered_only_when_the_range_runs_to_now_and_else_says_why(user_client, logs):
    ended = user_client.get("/", {"date": "2023-08-27"}).content.decode()
    assert re.search(r'<input type="checkbox" id="live-tail" disabled aria-describedby="tail-off">', ended)
    assert "Live tail needs a time range that runs to now" in ended and 'id="tail-bar"' not in ended
    oldest = user_client.get("/", {"from": "now-1h", "order": "oldest"}).content.decode()
    assert "Live tail shows the newest logs first" in oldest
    running = user_client.get("/", {"from": "now-1h"})
    assert running.context["tail_off"] == "" and running.context["tail_url"] == "/tail?from=now-1h"
    assert 'data-url="/tail?from=now-1h"' in running.content.decode()


def test_tailed_rows_have_the_markup_of_searched_rows(user_client, make_log):
    now = datetime.now(UTC)
    for n in range(3):
        make_log(timestamp=now - timedelta(seconds=n), user_id=4, level="error", logger="trainer", message=f"Step {n}")
    search = user_client.get("/", {"from": "now-1h", "keyword": "step"})
    tailed = user_client.get(search.context["tail_url"])  # no cursor: the newest rows
    assert tailed.status_code == 200
    row = re.compile(r'<tr id="log-[0-9a-f]{24}".*?</tr>', re.DOTALL)
    searched_rows, tailed_rows = row.findall(search.content.decode()), row.findall(tailed.content.decode())
    assert len(tailed_rows) == 3 and tailed_rows == searched_rows
    assert "<mark>Step</mark> 0" in tailed_rows[0] and "Exclude user 4" in tailed_rows[0]
    # Polled with the page's own cursor: nothing the page shows comes again.
    after = user_client.get(search.context["tail_url"], {"after": search.context["tail_after"]}).content.decode()
    assert row.findall(after) == [] and 'data-full="0"' in after
    ended = user_client.get("/tail", {"date": "2023-08-27"})
    assert ended.status_code == 400 and ended.json().keys() == {"date"}
