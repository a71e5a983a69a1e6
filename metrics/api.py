"""GET /api/v1/metrics (a metric's series per user_id and model) and GET /api/v1/metrics/names.

Thin views: parameters are parsed here (times by retrieval.filters' own fields), the answers come from
metrics.store, which reads aggregates only, never a log. Grants, tokens, throttles and audit are the logs
API's (`LogsAPIView`, `read_scope`, `audit.record`).
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.http import QueryDict
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from access import audit
from access.models import AuditEvent
from access.scope import OutsideScope, Scope, read_scope
from api.schema import ERRORS, FORBIDDEN, THROTTLED, TIME_EXPRESSION, TIME_EXPRESSIONS, UNAUTHORIZED, USER_ID
from api.serializers import NO_NUL_PATTERN
from doors import door
from doors.apiview import LogsAPIView
from metrics import store
from retrieval.filters import MAX_USER_IDS, OUT_OF_RANGE, IntegerListField, TimeExpressionField
from retrieval.query import EARLIEST, LATEST

AGGREGATES = ("avg", "min", "max", "last", "count")
DEFAULT_SPAN = timedelta(days=7)
STEP_PATTERN = re.compile(r"([1-9][0-9]{0,3})([hdw])")
STEP_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
MAX_POINTS = 2000
MAX_MODELS = 100
# The step for a range without one: about 30 to 200 points.
AUTO_STEPS = ((timedelta(days=2), "1h"), (timedelta(days=14), "6h"), (timedelta(days=120), "1d"))
API_PARAMETERS = ("format",)


class ModelList(forms.Field):
    """`model` repeated (model=a&model=b): a model's name may hold commas, so no comma lists."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: list[str] | None) -> tuple[str, ...]:
        # Counted as sent (empty and repeated ones too): the schema's maxItems is about the parameter.
        if len(value or []) > MAX_MODELS:
            raise forms.ValidationError(f"At most {MAX_MODELS} models.")
        models = tuple(sorted({item for item in value or [] if item}))
        if any(len(item) > 200 or "\x00" in item for item in models):
            raise forms.ValidationError("A model name has at most 200 characters and no NUL.")
        return models


class MetricsForm(forms.Form):
    user_id = IntegerListField(required=False)
    step = forms.RegexField(
        STEP_PATTERN.pattern, required=False, error_messages={"invalid": "Use 1h, 6h, 1d, 7d or 1w."}
    )

    def __init__(self, data: QueryDict, with_name: bool, now: datetime):
        super().__init__(data)
        self.now = now
        # "from" is a Python keyword, so the time fields cannot be declared in the class body.
        self.fields["from"] = TimeExpressionField(required=False)
        self.fields["to"] = TimeExpressionField(required=False)
        if with_name:
            self.fields["name"] = forms.CharField(max_length=100, strip=False)
            self.fields["model"] = ModelList(required=False)
            self.fields["agg"] = forms.ChoiceField(choices=[(a, a) for a in AGGREGATES], required=False)
        unknown = sorted(set(data) - set(self.fields) - set(API_PARAMETERS))
        self.unknown = unknown

    def clean(self) -> dict[str, Any]:
        data = self.cleaned_data  # what super().clean() returns
        for name in self.unknown:
            self.add_error(None, f"Unknown parameter: {name[:50]}.")
        if "from" not in data or "to" not in data:
            return data
        try:
            end = data["to"].resolve(self.now) if data["to"] else self.now
            start = data["from"].resolve(self.now) if data["from"] else end - DEFAULT_SPAN
        except OverflowError:
            start = end = None
        if start is None or end is None or start < EARLIEST or end > LATEST:
            self.add_error("from" if start is None or start < EARLIEST else "to", OUT_OF_RANGE)
            return data
        if start >= end:
            self.add_error("to", "“to” must be after “from”.")
            return data
        if end - start > timedelta(days=settings.METRICS_MAX_SPAN_DAYS):
            self.add_error("from", f"The time range may span at most {settings.METRICS_MAX_SPAN_DAYS} days.")
            return data
        step = data.get("step") or next((s for span, s in AUTO_STEPS if end - start <= span), "7d")
        match = STEP_PATTERN.fullmatch(step)
        assert match is not None  # the field's pattern, or ours
        width = int(match.group(1)) * STEP_UNITS[match.group(2)]
        if (end - start) / width > MAX_POINTS:
            self.add_error("step", f"At most {MAX_POINTS} points per series: a longer step for this range.")
            return data
        data["step"], data["width"] = step, width
        # Whole steps: the first holds `start`, the last holds the moment before `end`.
        data["start"] = store.align(start, width)
        data["end"] = store.align(end - timedelta(microseconds=1), width) + width
        return data


@dataclass(frozen=True)
class MetricsAsk:
    users: tuple[int, ...] | None  # None: every user_id
    data: dict[str, Any]


def parse(request: Request, with_name: bool) -> MetricsAsk:
    """The valid parameters, or a 400 naming each wrong one; a 403 naming user_ids outside the read grant."""
    form = MetricsForm(request.query_params, with_name, timezone.now())
    if not form.is_valid():
        errors = {name: [str(message) for message in messages] for name, messages in form.errors.items()}
        if "__all__" in errors:
            errors["parameters"] = errors.pop("__all__")
        raise ValidationError(errors)
    return scoped(request, form.cleaned_data)


def scoped(request: door.Request, data: dict[str, Any]) -> MetricsAsk:
    """A valid form's parameters within the caller's read grant: OutsideScope (a 403) naming user_ids outside it;
    no user_id asked is every granted one."""
    scope: Scope = read_scope(request)
    asked = data.get("user_id") or ()
    if outside := scope.outside(asked):
        raise OutsideScope(outside)
    return MetricsAsk(granted_users(scope, asked), data)


def granted_users(scope: Scope, asked: tuple[int, ...] = ()) -> tuple[int, ...] | None:
    """`asked`, or, when none is, every user_id of `scope` (None: every user_id)."""
    return asked or (None if scope.everything else tuple(sorted(scope.user_ids or ())))


def audit_series(request: door.Request, asked: MetricsAsk, agg: str, door: str) -> None:
    """Record that this caller read a metric's series (the API's and the chart page's one audit shape)."""
    data = asked.data
    audit.record(
        AuditEvent.Action.SEARCH,
        request,
        {
            "door": door,
            "name": data["name"],
            "user_ids": list(asked.users or []),
            "models": list(data["model"]),
            "from": data["start"].isoformat(),
            "to": data["end"].isoformat(),
            "step": data["step"],
            "agg": agg,
        },
    )


def value_of(stats: store.Stats, agg: str) -> float:
    if agg == "avg":
        return stats.total / stats.count
    if agg == "min":
        return stats.minimum
    if agg == "max":
        return stats.maximum
    if agg == "last":
        return stats.last[1]
    return float(stats.count)


class PointSerializer(serializers.Serializer):
    t = serializers.DateTimeField(help_text="The step's start (UTC).")
    value = serializers.FloatField(help_text="The aggregate of the step's values.")
    count = serializers.IntegerField(help_text="Values in the step.")


class SeriesSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    model = serializers.CharField(help_text="`context.model`, else the logger, else empty.")
    points = PointSerializer(many=True, help_text="Steps holding values only, oldest first.")


class MetricSeriesSerializer(serializers.Serializer):
    name = serializers.CharField()
    step = serializers.CharField()
    agg = serializers.ChoiceField(choices=AGGREGATES)
    series = SeriesSerializer(many=True)
    partial = serializers.BooleanField(
        help_text="A day of the range lost a write not recounted yet: its values may miss logs."
    )  # type: ignore[assignment]


class NameCountSerializer(serializers.Serializer):
    name = serializers.CharField()
    count = serializers.IntegerField()


class MetricNamesSerializer(serializers.Serializer):
    names = NameCountSerializer(many=True)


STEP_DESCRIPTION = (
    "`<n>h`, `<n>d` or `<n>w` (n from 1 to 9999). Default: 1h up to 2 days, 6h up to 14, 1d up to 120, else 7d. "
    f"At most {MAX_POINTS} steps: a 400 naming `step` otherwise. Steps start at whole multiples from Monday "
    "1970-01-05 00:00 UTC; the range is widened to whole steps. Aggregates are hourly, and daily for days older "
    "than METRICS_HOURLY_DAYS: a daily row counts in the step holding its midnight."
)
TIME_PARAMETERS = [
    OpenApiParameter(
        "from",
        TIME_EXPRESSION,
        description=f"Start, inclusive; default 7 days before `to`. {TIME_EXPRESSIONS}",
        examples=[OpenApiExample("Seven days ago", "now-7d")],
    ),
    OpenApiParameter(
        "to",
        TIME_EXPRESSION,
        description=f"End, exclusive; default now. At most METRICS_MAX_SPAN_DAYS after `from`. {TIME_EXPRESSIONS}",
        examples=[OpenApiExample("Now", "now")],
    ),
]
USER_PARAMETER = OpenApiParameter(
    "user_id",
    {"type": "array", "items": USER_ID, "maxItems": MAX_USER_IDS},
    description=f"One or several (at most {MAX_USER_IDS}): user_id=4&user_id=5, or 4,5. Default: every user_id "
    "granted to you.",
    examples=[OpenApiExample("Two users", [4, 5])],
    style="form",
    explode=True,
)


class MetricSeriesView(LogsAPIView):
    """A metric's values per (user_id, model), step by step, from the metrics store."""

    throttle_scopes = {"GET": "search"}
    schema = AutoSchema()  # `name` may not be empty (the logs API's schema allows every parameter empty)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "name",
                {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NO_NUL_PATTERN},
                required=True,
                description="The metric, as stored (see /api/v1/metrics/names).",
                examples=[OpenApiExample("Recall", "Recall")],
            ),
            USER_PARAMETER,
            OpenApiParameter(
                "model",
                {
                    "type": "array",
                    "items": {"type": "string", "maxLength": 200, "pattern": NO_NUL_PATTERN},
                    "maxItems": MAX_MODELS,
                },
                description="Only these models (repeat the parameter); default every model.",
                style="form",
                explode=True,
            ),
            *TIME_PARAMETERS,
            OpenApiParameter(
                "step", {"type": "string", "pattern": r"^[1-9][0-9]{0,3}[hdw]$"}, description=STEP_DESCRIPTION
            ),
            OpenApiParameter("agg", str, enum=list(AGGREGATES), description="Default avg."),
        ],
        responses={200: MetricSeriesSerializer, 400: ERRORS, 401: UNAUTHORIZED, 403: FORBIDDEN, 429: THROTTLED},
        description="A metric's series per user_id and model: count, and the average, minimum, maximum or last "
        "value of each step. Reads the metrics store, never the logs, hot or archived alike.",
    )
    def get(self, request: Request) -> Response:
        asked = parse(request, with_name=True)
        data = asked.data
        agg = data["agg"] or "avg"
        audit_series(request, asked, agg, "metrics-api")
        found = store.series(data["name"], asked.users, data["model"], data["start"], data["end"], data["width"])
        return Response(
            {
                "name": data["name"],
                "step": data["step"],
                "agg": agg,
                "series": [
                    {
                        "user_id": one.user_id,
                        "model": one.model,
                        "points": [
                            {
                                "t": point.t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                "value": value_of(point.stats, agg),
                                "count": point.stats.count,
                            }
                            for point in one.points
                        ],
                    }
                    for one in found
                ],
                "partial": store.lost_writes(data["start"], data["end"]),
            }
        )


class MetricNamesView(LogsAPIView):
    """The metric names with values in a range, and how many values each."""

    throttle_scopes = {"GET": "search"}
    schema = AutoSchema()

    @extend_schema(
        parameters=[USER_PARAMETER, *TIME_PARAMETERS],
        responses={200: MetricNamesSerializer, 400: ERRORS, 401: UNAUTHORIZED, 403: FORBIDDEN, 429: THROTTLED},
        description="The metric names of the user_ids' logs in the range, with how many values each, by name.",
    )
    def get(self, request: Request) -> Response:
        asked = parse(request, with_name=False)
        data = asked.data
        audit.record(
            AuditEvent.Action.SEARCH,
            request,
            {
                "door": "metrics-names-api",
                "user_ids": list(asked.users or []),
                "from": data["start"].isoformat(),
                "to": data["end"].isoformat(),
            },
        )
        found = store.names(asked.users, data["start"], data["end"])
        return Response({"names": [{"name": name, "count": count} for name, count in found]})
