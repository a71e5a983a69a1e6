"""The model-metrics page (/charts) and its CSV (/charts.csv): several users' and models' series on one chart,
grants, form errors, the table and the CSV, links to the logs of each point, and a log's metric chips."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from bson import ObjectId

from access.models import AuditEvent
from metrics.models import MetricDay
from retrieval import hotstore
from tests.access_support import user_granted
from tests.cold_archive import log, write_parts

pytestmark = [
    pytest.mark.django_db(databases=["default", "logs"]),
    pytest.mark.usefixtures("metric_names", "empty_archive", "empty_cold_cache"),
]

# Hours well inside the hot store's days (the archiver is not run here).
BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
RANGE = {"from": (BASE - timedelta(hours=1)).isoformat(), "to": (BASE + timedelta(hours=4)).isoformat(), "step": "1h"}
# user_id -> model -> Recall values, one log each, in the hours BASE, BASE+1h, BASE+2h (None: no log that hour)
RECALLS = {
    1: {"bert": [0.25, 0.5, 0.75], "resnet": [0.5, None, 0.25]},
    2: {"bert": [0.125, 0.375, 0.625]},
}


def recall_logs() -> list[dict]:
    documents = []
    for user_id, models in RECALLS.items():
        for model, values in models.items():
            for hour, value in enumerate(values):
                if value is not None:
                    for minute, spread in ((10, -0.0625), (40, 0.0625)):  # two logs an hour: a min/max band
                        documents.append(
                            log(
                                BASE + timedelta(hours=hour, minutes=minute),
                                user_id=user_id,
                                message=f"Validated {model}. Recall: {value + spread}",
                                logger="demo.trainer",
                                context={"model": model},
                            )
                        )
    # A metric only user 2 has: a reader of user 1 must not see its name.
    documents.append(log(BASE, user_id=2, message="Secret2Metric", context={"metrics": {"user2_only": 3}}))
    return documents


@pytest.fixture
def recalls(logs_db):
    documents = recall_logs()
    hotstore.insert([dict(d) for d in documents])
    return documents


@pytest.fixture
def everyone(client):
    client.force_login(user_granted("everyone"))
    return client


@pytest.fixture
def reader_of_1(client):
    client.force_login(user_granted("reader", read=[1], write=[]))
    return client


def chart(client, **params):
    return client.get("/charts", {"name": "Recall", **RANGE, **params})


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_chart_compares_every_users_models_with_a_line_band_and_legend_each(everyone, recalls):
    response = chart(everyone)

    assert response.status_code == 200
    lines = response.context["chart"]["lines"]
    assert [line.label for line in lines] == ["user 1, bert", "user 1, resnet", "user 2, bert"]
    # Told apart by colour and by dash, both.
    assert len({line.style.colour for line in lines}) == 3 and len({line.style.dash for line in lines}) == 3
    # resnet has no value at BASE+1h: its line breaks there (two runs), with a band per run.
    assert [len(line.paths) for line in lines] == [1, 2, 1] == [len(line.bands) for line in lines]
    assert [len(line.markers) for line in lines] == [3, 2, 3]
    html = response.content.decode()
    assert html.count("<polyline") == 4 and html.count('class="band"') == 4
    assert html.count('class="marker"') == 8
    for label in ("user 1, bert", "user 1, resnet", "user 2, bert"):
        assert f"</svg>{label}</li>" in html  # the legend

    rows = response.context["rows"]
    assert [(r.user_id, r.model, r.start, r.count) for r in rows][:3] == [
        (1, "bert", BASE + timedelta(hours=n), 2) for n in range(3)
    ]
    by_series = {(r.user_id, r.model, r.start): r for r in rows}
    first = by_series[(2, "bert", BASE + timedelta(hours=2))]
    assert first.value == pytest.approx(0.625)
    assert (first.minimum, first.maximum) == (pytest.approx(0.5625), pytest.approx(0.6875))
    assert len(rows) == 8 and html.count("<tr><td>") == 8
    assert AuditEvent.objects.get(params__door="metrics-page").params["name"] == "Recall"


def test_the_chart_narrows_to_the_chosen_users_and_models_and_aggregate(everyone, recalls):
    response = chart(everyone, user_id="1", model="resnet", agg="max")

    assert [line.label for line in response.context["chart"]["lines"]] == ["user 1, resnet"]
    assert [r.value for r in response.context["rows"]] == [pytest.approx(0.5625), pytest.approx(0.3125)]
    html = response.content.decode()
    # The models of the metric are offered, the chosen one ticked.
    assert re.search(r'<input type="checkbox" name="model" value="resnet" id="model-\d+" checked>', html)
    assert re.search(r'<input type="checkbox" name="model" value="bert" id="model-\d+">', html)

    counts = chart(everyone, user_id="2", agg="count")
    assert [r.value for r in counts.context["rows"]] == [2.0, 2.0, 2.0]
    assert 'class="band"' not in counts.content.decode()  # a count has no spread to shade


def test_a_reader_of_user_1_never_sees_user_2s_series_names_or_points(reader_of_1, recalls):
    response = chart(reader_of_1)

    assert response.status_code == 200
    assert {line.label for line in response.context["chart"]["lines"]} == {"user 1, bert", "user 1, resnet"}
    assert {row.user_id for row in response.context["rows"]} == {1}
    assert [name for name, _ in response.context["names"]] == ["Recall"]
    html = response.content.decode()
    assert "user2_only" not in html and "user 2" not in html
    assert {row["user_id"] for row in csv_rows(reader_of_1.get("/charts.csv", {"name": "Recall", **RANGE}))} == {"1"}

    # Asking for user 2 by name is refused, page and CSV alike, and so is a metric of user 2 only.
    assert chart(reader_of_1, user_id="2").status_code == 403
    assert chart(reader_of_1, user_id="1,2").status_code == 403
    assert reader_of_1.get("/charts.csv", {"name": "Recall", "user_id": "2", **RANGE}).status_code == 403
    own_only = chart(reader_of_1, name="user2_only")
    assert own_only.context["chart"]["lines"] == [] and "No values of user2_only" in own_only.content.decode()


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "last tuesday"}, "from", "ISO 8601"),
        ({"from": RANGE["to"], "to": RANGE["from"]}, "to", "must be after"),
        ({"step": "5x"}, "step", "Use 1h"),
        ({"step": "", "from": "now-400d", "to": "now"}, "from", "at most 366 days"),
        ({"step": "1h", "from": "now-200d", "to": "now"}, "step", "At most 2000 points"),
        ({"agg": "median"}, "agg", "Select a valid choice"),
        ({"user_id": "one"}, "user_id", "is not a user id"),
        ({"name": ""}, "name", "required"),
        ({"model": "m" * 201}, "model", "200 characters"),
    ],
)
def test_bad_input_is_a_form_error_naming_its_field(everyone, recalls, params, field, message):
    response = chart(everyone, **params)

    assert response.status_code == 400
    html = unescape(response.content.decode())
    error = re.search(rf'<div class="errorlist"[^>]*data-field="{field}">([^<]*)</div>', html)
    assert error and message in error.group(1), html
    assert 'id="chart"' not in html
    # The CSV answers 400 naming the same field.
    assert field in everyone.get("/charts.csv", {"name": "Recall", **RANGE, **params}).json()


def test_an_unknown_parameter_is_a_form_error_and_a_first_visit_is_a_form_without_errors(everyone, recalls):
    unknown = chart(everyone, colour="red")
    assert unknown.status_code == 400 and "Unknown parameter: colour." in unknown.content.decode()

    first = everyone.get("/charts")
    assert first.status_code == 200
    html = first.content.decode()
    assert 'class="errorlist"' not in html and 'id="chart"' not in html
    # The metric is picked from the names with values in the (default, last 7 days) range.
    assert re.search(r'<option value="Recall">Recall \(16 values\)</option>', html)


def test_the_csv_holds_the_rows_of_the_table(everyone, recalls):
    page = chart(everyone, agg="last")
    lines = csv_rows(everyone.get("/charts.csv", {"name": "Recall", **RANGE, "agg": "last"}))

    table = [
        {
            "user_id": str(r.user_id),
            "model": r.model,
            "from": r.start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "to": r.end.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "agg": "last",
            "value": repr(r.value),
            "count": str(r.count),
            "min": repr(r.minimum),
            "max": repr(r.maximum),
        }
        for r in page.context["rows"]
    ]
    assert lines == table and len(lines) == 8
    assert float(lines[0]["value"]) == pytest.approx(0.3125)  # the later of BASE's two bert logs of user 1
    assert AuditEvent.objects.filter(params__door="metrics-csv").count() == 1


def test_each_point_links_to_the_logs_its_model_wrote_in_its_step(everyone, recalls):
    rows = chart(everyone).context["rows"]
    point = next(r for r in rows if (r.user_id, r.model, r.start) == (1, "resnet", BASE + timedelta(hours=2)))

    query = parse_qs(urlsplit(point.logs_url).query)
    assert query["user_id"] == ["1"] and query["q"] == ["model:resnet"]
    found = everyone.get(point.logs_url).context["page"].rows
    assert sorted(row.message for row in found) == [
        "Validated resnet. Recall: 0.1875",
        "Validated resnet. Recall: 0.3125",
    ]
    # The chart's markers link to the same places as the table.
    html = unescape(chart(everyone).content.decode())
    assert html.count(f'<a href="{point.logs_url}"') == 2

    # A model taken from the logger (no context.model): its point finds its logs too.
    solo = log(BASE + timedelta(hours=2, minutes=5), user_id=1, message="Recall: 0.4", logger="trainer.solo")
    hotstore.insert([solo])
    rows = chart(everyone, model="trainer.solo").context["rows"]
    [point] = [r for r in rows if r.model == "trainer.solo"]
    assert [row.id for row in everyone.get(point.logs_url).context["page"].rows] == [str(solo["_id"])]


def test_a_range_with_a_lost_write_shows_the_partial_notice(everyone, recalls):
    assert 'id="chart-partial"' not in chart(everyone).content.decode()
    MetricDay.objects.filter(day=BASE.date()).update(started=5, finished=4, last_start=BASE - timedelta(hours=1))

    assert 'id="chart-partial"' in chart(everyone).content.decode()


def chips(html: str) -> dict[str, str]:
    """A page's metric chips: text -> href."""
    return {
        text: unescape(href)
        for href, text in re.findall(r'<li><a href="([^"]*)" aria-label="Chart of [^"]*">([^<]*)</a>', html)
    }


def test_a_rows_metrics_are_chips_linking_to_their_chart_hot_and_archived(everyone, recalls):
    day = BASE - timedelta(days=3)
    archived = log(day, user_id=1, message="old. F1: 0.5", logger="trainer.old", metrics={"F1": 0.5})
    write_parts([archived], purged=True)
    page = everyone.get("/", {"user_id": "1", "from": (day - timedelta(hours=1)).isoformat(), "to": RANGE["to"]})
    assert page.status_code == 200

    found = chips(page.content.decode())
    assert set(found) == {
        "Recall=0.1875",
        "Recall=0.3125",
        "Recall=0.4375",
        "Recall=0.5625",
        "Recall=0.6875",
        "Recall=0.8125",
        "F1=0.5",
    }
    href = found["F1=0.5"]  # the archived log's: its model is its logger (no context.model)
    assert parse_qs(urlsplit(href).query) == {
        "name": ["F1"],
        "user_id": ["1"],
        "model": ["trainer.old"],
        "from": [(day - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")],
        "to": [(day + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")],
    }
    hot = chart_of(everyone, found["Recall=0.8125"])
    assert [line.label for line in hot.context["chart"]["lines"]] == ["user 1, bert"]
    assert BASE + timedelta(hours=2) in {row.start for row in hot.context["rows"]}


def test_the_log_page_shows_its_metrics_as_chips_hot_and_archived(everyone, recalls):
    day = BASE - timedelta(days=3)
    # An id of the log's own time, as ingest makes them: the log page finds archived logs near their id's time
    # (ids of other times through the archiver's id index, which write_parts does not write).
    archived = log(day, user_id=1, message="old. F1: 0.5", logger="trainer.old", metrics={"F1": 0.5})
    archived["_id"] = ObjectId(f"{int(day.timestamp()):08x}{1:016x}")
    write_parts([archived], purged=True)
    hot = next(document for document in recalls if "Recall: " in document["message"])

    archived_page = everyone.get(f"/logs/{archived['_id']}")
    assert archived_page.status_code == 200, archived_page.content[:300]
    assert chips(archived_page.content.decode()) == {
        "F1=0.5": chips(everyone.get("/", {"user_id": "1", "date": f"{day:%Y-%m-%d}"}).content.decode())["F1=0.5"]
    }
    hot_page = everyone.get(f"/logs/{hot['_id']}").content.decode()
    [(text, href)] = chips(hot_page).items()
    assert text.startswith("Recall=") and float(text[len("Recall=") :]) == float(hot["message"].split(": ")[-1])
    assert parse_qs(urlsplit(href).query)["model"] == [hot["context"]["model"]]
    bare = log(BASE, user_id=1, message="no numbers here", logger="trainer.bert")
    hotstore.insert([bare])
    assert chips(everyone.get(f"/logs/{bare['_id']}").content.decode()) == {}


def chart_of(client, href: str):
    response = client.get(href)
    assert response.status_code == 200, response.content
    return response


@pytest.mark.parametrize(
    ("low", "high", "expected", "texts"),
    [
        (0.1875, 0.8125, (0.0, 1.0, 0.2), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
        (0.5, 0.5, (0.45, 0.55, 0.05), ["0.45", "0.50", "0.55"]),  # one value: room around it
        (1200, 48000, (0.0, 60000.0, 20000.0), ["0", "20,000", "40,000", "60,000"]),
    ],
)
def test_the_y_axis_has_round_ticks_covering_every_value(low, high, expected, texts):
    from metrics import chart

    bottom, top, step = chart.y_range(low, high)
    assert (bottom, step) == pytest.approx(expected[::2]) and top >= high and bottom <= low
    ticks = [chart.tick_text(bottom + n * step, step) for n in range(round((top - bottom) / step) + 1)]
    assert ticks == texts


def test_a_chart_of_many_series_shows_the_first_ones_and_says_so_while_the_csv_has_them_all(
    everyone, recalls, monkeypatch
):
    from metrics import pages

    monkeypatch.setattr(pages, "MAX_SERIES", 2)
    response = chart(everyone)

    assert [line.label for line in response.context["chart"]["lines"]] == ["user 1, bert", "user 1, resnet"]
    assert {(r.user_id, r.model) for r in response.context["rows"]} == {(1, "bert"), (1, "resnet")}
    assert "1 more left out" in response.content.decode()
    assert len(csv_rows(everyone.get("/charts.csv", {"name": "Recall", **RANGE}))) == 8
    assert 'id="series-left-out"' not in chart(everyone, user_id="2").content.decode()


def test_the_time_axis_is_labelled_at_round_times_inside_the_plot():
    from metrics import chart

    two_days = chart.time_ticks(datetime(2023, 8, 26, tzinfo=UTC), datetime(2023, 8, 28, tzinfo=UTC))
    assert [(t.text, t.percent) for t in two_days] == [
        ("08-26 00:00", 0),
        ("08-26 12:00", 25),
        ("08-27 00:00", 50),
        ("08-27 12:00", 75),
    ]
    # A week from a Wednesday: days, none past the plot's last 8 % (its label would stick out).
    week = chart.time_ticks(datetime(2023, 8, 23, 5, tzinfo=UTC), datetime(2023, 8, 30, 5, tzinfo=UTC))
    assert [t.text for t in week] == ["2023-08-25", "2023-08-27", "2023-08-29"]
