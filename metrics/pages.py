"""The model-metrics page (`/charts`) and its points as CSV (`/charts.csv`), with the metrics API's parameters.

Thin: parameters, grants and audit are the API's (`MetricsForm`, `scoped`, `audit_series`), values the store's,
the chart's geometry `metrics.chart`'s, links the explorer's. Login, search capacity and (CSV) the export
throttle as the explorer's search page and exports.
"""

import csv
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from doors.capacity import search_capacity, search_capacity_page
from doors.throttles import throttled
from explorer.forms import add_input_hints
from explorer.links import search_url, with_term
from explorer.views import TIME_PRESETS
from metrics import chart, store
from metrics.api import AGGREGATES, DEFAULT_SPAN, MetricsAsk, MetricsForm, audit_series, scoped, value_of
from retrieval.query import isoformat

CSV_COLUMNS = ("user_id", "model", "from", "to", "agg", "value", "count", "min", "max")
# A log's chips link to its metric's chart over this much time either side of it (hourly points).
AROUND_LOG = timedelta(days=1)
LABELS = {"user_id": "Users", "from": "From (UTC)", "to": "To (UTC)", "step": "Step", "agg": "Value per step"}
# Series on one chart (and in its table): more are left out, and the page says how to narrow them.
MAX_SERIES = 20
AGG_LABELS = {"avg": "average", "min": "minimum", "max": "maximum", "last": "last value", "count": "count"}


@dataclass(frozen=True)
class PointRow:
    """One point of the table and of the CSV (the same rows): a step of one series."""

    user_id: int
    model: str
    start: datetime
    end: datetime
    value: float
    count: int
    minimum: float
    maximum: float
    logs_url: str


def logs_url(user_id: int, model: str, start: datetime, end: datetime) -> str:
    """The explorer's search of what `model` of `user_id` logged in [start, end): the `model:` term, which reads
    a log's model as intake groups its metrics (`context.model`, else the logger)."""
    params = {"user_id": str(user_id), "from": isoformat(start), "to": isoformat(end)}
    return search_url(with_term(params, "model", model) if model else params)


def chart_url(name: str, user_id: int, model: str, moment: datetime) -> str:
    """The chart of one series around `moment` (a log's chips link here)."""
    params = {
        "name": name,
        "user_id": str(user_id),
        "model": model,
        "from": isoformat(moment - AROUND_LOG),
        "to": isoformat(moment + AROUND_LOG),
    }
    return f"{reverse('metric-chart')}?{urlencode({k: v for k, v in params.items() if v})}"


def point_rows(found: list[store.Series], agg: str, step: timedelta) -> list[PointRow]:
    return [
        PointRow(
            one.user_id,
            one.model,
            point.t,
            point.t + step,
            value_of(point.stats, agg),
            point.stats.count,
            point.stats.minimum,
            point.stats.maximum,
            logs_url(one.user_id, one.model, point.t, point.t + step),
        )
        for one in found
        for point in one.points
    ]


def chart_form(data: QueryDict, now: datetime) -> MetricsForm:
    """The API's form, labelled for people, with the explorer's hints on its time and user inputs."""
    form = MetricsForm(data, with_name=True, now=now)
    for name, label in LABELS.items():
        form.fields[name].label = label
    # A ChoiceField (MetricsForm), which Field does not say.
    form.fields["agg"].choices = [(agg, AGG_LABELS[agg]) for agg in AGGREGATES]  # type: ignore[attr-defined]
    form.fields["step"].help_text = "1h, 6h, 1d, 1w… Empty: from the range."
    form.fields["step"].widget.attrs.update(placeholder="auto", **{"aria-describedby": "id_step-help"})
    return add_input_hints(form)


def read_series(request: HttpRequest, asked: MetricsAsk, door: str) -> tuple[str, list[store.Series]]:
    """The asked metric's aggregate and series (audited as `door`)."""
    data = asked.data
    agg = data["agg"] or "avg"
    audit_series(request, asked, agg, door)
    return agg, store.series(data["name"], asked.users, data["model"], data["start"], data["end"], data["width"])


def preset_links(data: QueryDict) -> list[tuple[str, str]]:
    """The time presets: this chart over the last 15 min ... 30 days."""
    links = []
    for label, value in TIME_PRESETS:
        params = data.copy()
        params.pop("to", None)
        params["from"] = value
        links.append((label, f"{reverse('metric-chart')}?{params.urlencode()}"))
    return links


@require_GET
@login_required
@search_capacity_page
def chart_page(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    form = chart_form(request.GET, now)
    # A first visit (no parameter) is a form to fill, not a form in error.
    valid = bool(request.GET) and form.is_valid()
    data: dict[str, Any] = form.cleaned_data if request.GET else {}
    # A user_id outside the grant is a 403 (templates/403.html names it), as on the search page.
    asked = scoped(request, data)
    users = asked.users
    start, end = data.get("start") or now - DEFAULT_SPAN, data.get("end") or now
    names = store.names(users, start, end)
    name = data.get("name") or ""
    context: dict[str, Any] = {
        "form": form,
        "shown_errors": bool(request.GET),
        "names": names,
        "name": name,
        "name_listed": any(listed == name for listed, _ in names),
        "models": store.models(name, users, start, end) if name else [],
        "chosen_models": set(data.get("model") or ()),
        "presets": TIME_PRESETS,
        "preset_links": preset_links(request.GET),
    }
    if not valid:
        return render(request, "metrics/chart.html", context, status=400 if request.GET else 200)
    agg, found = read_series(request, asked, "metrics-page")
    width = data["width"]
    # A page people read: the first MAX_SERIES series (by user_id, model); the CSV has them all.
    shown = found[:MAX_SERIES]
    context.update(
        series_left_out=len(found) - len(shown),
        agg=agg,
        agg_label=AGG_LABELS[agg],
        start=data["start"],
        end=data["end"],
        step=data["step"],
        rows=point_rows(shown, agg, width),
        chart=chart.line_chart(
            shown,
            lambda point: value_of(point.stats, agg),
            data["start"],
            data["end"],
            width,
            lambda one, point: logs_url(one.user_id, one.model, point.t, point.t + width),
            lambda one, point: point_label(one, point, agg, width),
            band=agg != "count",
        ),
        partial=store.lost_writes(data["start"], data["end"]),
        csv_url=f"{reverse('metric-chart-csv')}?{request.GET.urlencode()}",
        api_url=f"{reverse('api-metrics')}?{request.GET.urlencode()}",
    )
    return render(request, "metrics/chart.html", context)


def point_label(one: store.Series, point: store.Point, agg: str, width: timedelta) -> str:
    """A marker's accessible name: its series, step, value and spread."""
    stats = point.stats
    return (
        f"{chart.series_label(one)}, {point.t:%Y-%m-%d %H:%M} to {point.t + width:%Y-%m-%d %H:%M} UTC: "
        f"{AGG_LABELS[agg]} {value_of(stats, agg):.4g} of {stats.count:,} values "
        f"(min {stats.minimum:.4g}, max {stats.maximum:.4g}); open its logs"
    )


@require_GET
@login_required
@throttled("export")
@search_capacity
def chart_csv(request: HttpRequest) -> HttpResponse:
    """The chart's points (its table's rows) as CSV; bad parameters a 400 naming each, as the exports."""
    form = chart_form(request.GET, timezone.now())
    if not form.is_valid():
        return JsonResponse(form.errors, status=400)
    asked = scoped(request, form.cleaned_data)
    agg, found = read_series(request, asked, "metrics-csv")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    # The name is the user's text: only these characters reach the header.
    filename = re.sub(r"[^A-Za-z0-9_.-]", "_", asked.data["name"])[:50]
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in point_rows(found, agg, asked.data["width"]):
        writer.writerow(
            [
                row.user_id,
                row.model,
                isoformat(row.start),
                isoformat(row.end),
                agg,
                repr(row.value),
                row.count,
                repr(row.minimum),
                repr(row.maximum),
            ]
        )
    return response
