"""The search parameters: parsed and validated once, for the page, the API and the admin.

`LogFilterSet(request.GET).log_query()` turns a query string into a `LogQuery`,
or the form's errors name the parameter that is wrong. Parameters:

    user_id    one or several integers: user_id=4, user_id=1,4 or user_id=1&user_id=4
    date       a whole UTC day, YYYY-MM-DD (or from/to, not both)
    from, to   ISO 8601 datetimes, half-open [from, to); UTC unless an offset is given
    level      one or several of debug/info/warning/error/critical
    min_level  that level and the more severe ones (with level: those of its levels)
    keyword    case-insensitive literal substring of the message
    order      newest (default) or oldest
    page_size  1 to 1000 (default 100)
    cursor     the next_cursor of the previous page

Without date/from/to the search covers the last SEARCH_DEFAULT_SPAN_HOURS (from alone:
that span after it; to alone: that span before it); no span may exceed
SEARCH_MAX_SPAN_DAYS. Unknown parameters are errors, so that
`user_id[$ne]=1` is refused rather than ignored.
"""

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import django_filters
from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django_filters.fields import IsoDateTimeField

from retrieval.models import Level, LogEntry
from retrieval.query import (
    ALL_LEVELS,
    DEFAULT_PAGE_SIZE,
    MAX_KEYWORD_LENGTH,
    MAX_PAGE_SIZE,
    InvalidCursor,
    LogQuery,
    decode_cursor,
)

# [0-9], not \d: \d also matches other scripts' digits ("١" is 1 to int()).
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_USER_IDS = 100
MAX_USER_ID = 2**31 - 1  # user_id is a 32-bit integer field
# The range a search may cover. Beyond it, converting an offset to UTC or adding a span
# overflows Python's datetime (years 1 to 9999), and strftime writes year 1 as "1", which
# permalinks and cursors could not parse back; no log is older than the Unix epoch.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
OUT_OF_RANGE = f"Out of range: a search covers {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC) at most."


def max_span() -> timedelta:
    return timedelta(days=settings.SEARCH_MAX_SPAN_DAYS)


def default_span() -> timedelta:
    return timedelta(hours=settings.SEARCH_DEFAULT_SPAN_HOURS)


class ListWidgetMixin:
    """Accept a parameter repeated (a=1&a=2) or comma-separated (a=1,2), or both."""

    def value_from_datadict(self, data: Mapping[str, Any], files: Mapping[str, Any], name: str) -> list[str]:
        values = data.getlist(name) if isinstance(data, MultiValueDict) else [data.get(name)]
        return [item.strip() for value in values if value for item in str(value).split(",") if item.strip()]


class CommaListInput(ListWidgetMixin, forms.TextInput):
    def format_value(self, value: object) -> str | None:
        if isinstance(value, list | tuple):
            return ",".join(str(v) for v in value)
        return None if value is None else str(value)


class LevelCheckboxes(ListWidgetMixin, forms.CheckboxSelectMultiple):
    pass


class IntegerListField(forms.Field):
    widget = CommaListInput

    def to_python(self, value: list[str] | None) -> tuple[int, ...]:
        ids = []
        for item in value or []:
            if not re.fullmatch(r"[0-9]{1,10}", item) or int(item) > MAX_USER_ID:
                raise forms.ValidationError(f"“{item[:50]}” is not a user id (a whole number from 0 to {MAX_USER_ID}).")
            ids.append(int(item))
        if len(ids) > MAX_USER_IDS:
            raise forms.ValidationError(f"At most {MAX_USER_IDS} user ids.")
        return tuple(sorted(set(ids)))


class StrictDateField(forms.DateField):
    """Only YYYY-MM-DD: Python's fromisoformat would also take 20230827 and 2023-W34."""

    def to_python(self, value: object) -> date | None:
        if value in self.empty_values:
            return None
        if not DATE_PATTERN.fullmatch(str(value)):
            raise forms.ValidationError("Enter a date as YYYY-MM-DD.")
        return super().to_python(str(value))


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 datetime, converted to UTC (LogSearchForm checks the range)."""

    def to_python(self, value: object) -> datetime | None:
        moment = super().to_python(value)
        try:
            return moment and moment.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+23:59 is in year 0 in UTC
            raise forms.ValidationError(OUT_OF_RANGE) from None


class LogSearchForm(forms.Form):
    field_order = ("user_id", "date", "from", "to", "level", "min_level", "keyword", "order", "page_size")
    # Parameters a front door accepts besides the filters (e.g. DRF's "format").
    extra_parameters: frozenset[str] = frozenset()

    def clean(self) -> dict[str, Any]:
        data = self.cleaned_data  # what super().clean() returns
        known = set(self.fields) | self.extra_parameters
        for name in sorted(set(self.data) - known):
            # Keyed by the parameter itself so that the API names it; not a field, hence errors.
            self.errors[name[:50]] = self.error_class([f"Unknown parameter “{name[:50]}”."])
        self._clean_time(data)
        if data.get("level") and data.get("min_level") and not selected_levels(data):
            self.add_error("level", f"None of these levels is “{data['min_level']}” or more severe (min_level).")
        if data.get("cursor"):
            try:
                decode_cursor(data["cursor"], newest_first=(data.get("order") or "newest") == "newest")
            except InvalidCursor as exc:
                self.add_error("cursor", str(exc))
        return data

    def _clean_time(self, data: dict[str, Any]) -> None:
        day: date | None = data.get("date")
        start: datetime | None = data.get("from")
        end: datetime | None = data.get("to")
        if day and (start or end):
            self.add_error("date", "Give date or from/to, not both.")
            return
        try:
            if day:
                start = datetime.combine(day, time.min, tzinfo=UTC)
                end = start + timedelta(days=1)
            else:
                end = end or (start + default_span() if start else timezone.now())
                start = start or end - default_span()
        except OverflowError:  # a day or span crossing year 1 or 9999
            start = end = None
        if start is None or end is None or start < EARLIEST or end > LATEST:
            if day or not (data.get("from") and data.get("to")):
                # The parameter given; the other end of the range is derived from it.
                field = "date" if day else ("from" if data.get("from") else "to")
            else:
                field = "from" if start is None or start < EARLIEST else "to"
            self.add_error(field, OUT_OF_RANGE)
            return
        if start >= end:
            self.add_error("to", "“to” must be after “from”.")
        elif end - start > max_span():
            field = "date" if day else ("from" if data.get("from") else "to")
            self.add_error(field, f"The time range may span at most {max_span().days} days.")
        data["start"], data["end"] = start.astimezone(UTC), end.astimezone(UTC)


def selected_levels(data: dict) -> tuple[str, ...]:
    """The levels `level` lists (all when none) that are at or above `min_level` (when given), least severe first."""
    levels = set(data.get("level") or ALL_LEVELS)
    if data.get("min_level"):
        levels &= set(Level.at_least(data["min_level"]))
    return tuple(level for level in ALL_LEVELS if level in levels)


class IntegerListFilter(django_filters.Filter):
    field_class = IntegerListField


class IntegerFilter(django_filters.Filter):
    field_class = forms.IntegerField


class StrictDateFilter(django_filters.Filter):
    field_class = StrictDateField


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class LogFilterSet(django_filters.FilterSet):
    """The shared definition. Filtering a queryset (the admin) goes through `LogQuery.orm_q`."""

    user_id = IntegerListFilter(label="User ids", help_text="One or several, comma-separated.")
    date = StrictDateFilter(label="Day (UTC)", help_text="YYYY-MM-DD")
    level = django_filters.MultipleChoiceFilter(choices=Level.choices, widget=LevelCheckboxes)
    min_level = django_filters.ChoiceFilter(choices=Level.choices, label="Minimum level")
    keyword = django_filters.CharFilter(
        label="Keyword",
        max_length=MAX_KEYWORD_LENGTH,
        help_text="Case-insensitive text in the message, matched literally.",
    )
    order = django_filters.ChoiceFilter(
        label="Order", choices=[("newest", "Newest first"), ("oldest", "Oldest first")], empty_label=None
    )
    page_size = IntegerFilter(min_value=1, max_value=MAX_PAGE_SIZE, label="Page size")
    cursor = django_filters.CharFilter(max_length=1000, widget=forms.HiddenInput)

    class Meta:
        model = LogEntry
        fields: list[str] = []
        form = LogSearchForm

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        queryset: QuerySet[LogEntry] | None = None,
        *,
        extra_parameters: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(data, queryset if queryset is not None else LogEntry.objects.none(), **kwargs)
        self.extra_parameters = frozenset(extra_parameters)

    @property
    def form(self) -> LogSearchForm:
        form = super().form
        form.extra_parameters = self.extra_parameters
        return form

    def log_query(self) -> LogQuery:
        """The validated query; call only when `is_valid()`."""
        data = self.form.cleaned_data
        return LogQuery(
            user_ids=data.get("user_id") or (),
            start=data["start"],
            end=data["end"],
            levels=selected_levels(data),
            keyword=data.get("keyword") or "",
            newest_first=(data.get("order") or "newest") == "newest",
            limit=int(data.get("page_size") or DEFAULT_PAGE_SIZE),
        )

    @property
    def cursor_token(self) -> str | None:
        return self.form.cleaned_data.get("cursor") or None

    def filter_queryset(self, queryset: QuerySet[LogEntry]) -> QuerySet[LogEntry]:
        return queryset.filter(self.log_query().orm_q())


# "from" and "to" are Python keywords, so they cannot be declared in the class body.
LogFilterSet.base_filters["from"] = UtcDateTimeFilter(label="From (UTC)")
LogFilterSet.base_filters["to"] = UtcDateTimeFilter(label="To (UTC, exclusive)")
