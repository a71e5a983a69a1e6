"""The search parameters: parsed and validated once, for the page, the API and the admin.

`LogFilterSet(request.GET, scope=read_scope(request)).log_query()` turns a query string into a
`LogQuery`, or the form's errors name the parameter that is wrong. The scope (`access.scope`) is
required, so that no front door forgets it: a user_id outside it is refused (`OutsideScope`, a 403
naming `user_id`), and a query without user_id covers only the scope's user_ids. Parameters:

    user_id    one or several integers: user_id=4, user_id=1,4 or user_id=1&user_id=4
    date       a whole UTC day, YYYY-MM-DD, or the day holding a relative time as `from` takes it
               (today, yesterday, now-2d/d), or from/to, not both
    from, to   half-open [from, to): ISO 8601 (UTC unless an offset is given; a date alone is
               its midnight), or relative to now as in Grafana: now, now-15m, now-6h, now-2d/d
               (units s m h d w; /unit rounds down to the start of that unit, UTC), today,
               yesterday (their midnights)
    level      one or several of debug/info/warning/error/critical
    min_level  that level and the more severe ones (with level: those of its levels)
    keyword    case-insensitive literal substring of the message
    q          query syntax (retrieval.querysyntax): words, "phrases", -exclusions, logger:,
               level:, user_id:, context.<key>:, metric comparisons (Recall<0.5)
    order      newest (default) or oldest
    page_size  1 to 1000 (default 100)
    cursor     the next_cursor or prev_cursor of a page of the same search

Without date/from/to the search covers the last SEARCH_DEFAULT_SPAN_HOURS (from alone:
that span after it, or up to now when relative; to alone: that span before it); no span may exceed
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

from access.scope import OutsideScope, Scope
from retrieval import querysyntax
from retrieval.models import Level, LogEntry
from retrieval.query import (
    ALL_LEVELS,
    DEFAULT_PAGE_SIZE,
    EARLIEST,
    LATEST,
    MAX_KEYWORD_LENGTH,
    MAX_PAGE_SIZE,
    Cursor,
    InvalidCursor,
    LogQuery,
    decode_cursor,
)
from retrieval.timeexpr import TIME_FORMATS, TimeExpression, parse_time_expression

# [0-9], not \d: \d also matches other scripts' digits ("١" is 1 to int()).
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_USER_IDS = 100
MAX_USER_ID = 2**31 - 1  # user_id is a 32-bit integer field
# The range a search may cover. Beyond it, converting an offset to UTC or adding a span
# overflows Python's datetime (years 1 to 9999), and strftime writes year 1 as "1", which
# permalinks and cursors could not parse back; no log is older than the Unix epoch.
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


class StrictDateField(forms.Field):
    """A UTC day: YYYY-MM-DD only (Python's fromisoformat would also take 20230827 and 2023-W34), or a
    relative time as `from` takes it (today, yesterday, now-2d/d, now-36h): the UTC day holding it."""

    def to_python(self, value: object) -> date | TimeExpression | None:
        if value in self.empty_values:
            return None
        text = str(value).strip()
        relative = parse_time_expression(text)
        if relative is not None:
            return relative
        if not DATE_PATTERN.fullmatch(text):
            raise forms.ValidationError("Enter a day as YYYY-MM-DD, today, yesterday or now-2d/d.")
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise forms.ValidationError("Enter a valid date.") from None


class TimeExpressionField(IsoDateTimeField):
    """An ISO 8601 datetime (converted to UTC) or a relative time (LogSearchForm resolves it and checks the range)."""

    default_error_messages = {"invalid": TIME_FORMATS}

    def to_python(self, value: object) -> TimeExpression | None:
        if value in self.empty_values:
            return None
        text = str(value).strip()
        relative = parse_time_expression(text)
        if relative is not None:
            return relative
        moment = super().to_python(text)
        try:
            return TimeExpression(text, moment.astimezone(UTC)) if moment else None
        except OverflowError:  # 0001-01-01T00:00+23:59 is in year 0 in UTC
            raise forms.ValidationError(OUT_OF_RANGE) from None


class LogSearchForm(forms.Form):
    field_order = ("user_id", "date", "from", "to", "level", "min_level", "keyword", "q", "order", "page_size")
    # Parameters a front door accepts besides the filters (e.g. DRF's "format").
    extra_parameters: frozenset[str] = frozenset()
    # The clock relative times are read against (None: the time of the request); tests set it.
    now: datetime | None = None

    def clean(self) -> dict[str, Any]:
        data = self.cleaned_data  # what super().clean() returns
        known = set(self.fields) | self.extra_parameters
        for name in sorted(set(self.data) - known):
            # Keyed by the parameter itself so that the API names it; not a field, hence errors.
            self.errors[name[:50]] = self.error_class([f"Unknown parameter “{name[:50]}”."])
        data["time_params"] = time_params(data)
        if data.get("cursor"):
            try:
                data["cursor_state"] = decode_cursor(
                    data["cursor"], newest_first=(data.get("order") or "newest") == "newest"
                )
            except InvalidCursor as exc:
                self.add_error("cursor", str(exc))
        self._clean_time(data)
        if data.get("level") and data.get("min_level") and not selected_levels(data):
            self.add_error("level", f"None of the chosen levels is “{data['min_level']}” or more severe.")
        return data

    def _clean_time(self, data: dict[str, Any]) -> None:
        given_day: date | TimeExpression | None = data.get("date")
        given_start: TimeExpression | None = data.get("from")
        given_end: TimeExpression | None = data.get("to")
        if given_day and (given_start or given_end):
            self.add_error("date", "Give a day or a from/to range, not both.")
            return
        cursor: Cursor | None = data.get("cursor_state")
        if cursor is not None and cursor.pinned is not None and cursor.time_params == data["time_params"]:
            # Later pages of a relative range read the range of the first (the cursor's), so that
            # "now" moving on neither skips nor repeats rows.
            data["start"], data["end"] = cursor.pinned
            return
        now = self.now or timezone.now()
        try:
            day = given_day.resolve(now).date() if isinstance(given_day, TimeExpression) else given_day
            start = given_start.resolve(now) if given_start else None
            end = given_end.resolve(now) if given_end else None
            if day:
                start = datetime.combine(day, time.min, tzinfo=UTC)
                end = start + timedelta(days=1)
            else:
                # A relative `from` alone runs to now (now-6h: the last six hours), as in Grafana.
                end = end or (start + default_span() if start and not (given_start and given_start.relative) else now)
                start = start or end - default_span()
        except OverflowError:  # a day, offset or span crossing year 1 or 9999
            start = end = day = None
        if start is None or end is None or start < EARLIEST or end > LATEST:
            if given_day or not (given_start and given_end):
                # The parameter given; the other end of the range is derived from it.
                field = "date" if given_day else ("from" if given_start else "to")
            else:
                field = "from" if start is None or start < EARLIEST else "to"
            self.add_error(field, OUT_OF_RANGE)
            return
        if start >= end:
            self.add_error("to", "“to” must be after “from”.")
        elif end - start > max_span():
            field = "date" if given_day else ("from" if given_start else "to")
            self.add_error(field, f"The time range may span at most {max_span().days} days.")
        data["start"], data["end"] = start.astimezone(UTC), end.astimezone(UTC)


def time_params(data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The time parameters as given (`date`, or `from`/`to` as typed), for permalinks and paging."""
    if day := data.get("date"):
        return (("date", day.text if isinstance(day, TimeExpression) else day.isoformat()),)
    return tuple((name, data[name].text) for name in ("from", "to") if data.get(name))


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


class QueryField(forms.CharField):
    """The query syntax (`q`): checked here, so that a bad query is a 400 naming `q` and the position."""

    def clean(self, value: object) -> str:
        text = super().clean(value)
        try:
            querysyntax.parse(text)
        except querysyntax.QuerySyntaxError as exc:
            raise forms.ValidationError(str(exc)) from None
        return text


class QueryFilter(django_filters.CharFilter):
    field_class = QueryField


class TimeExpressionFilter(django_filters.IsoDateTimeFilter):
    field_class = TimeExpressionField


class LogFilterSet(django_filters.FilterSet):
    """The shared definition. Filtering a queryset (the admin) goes through `LogQuery.orm_q`."""

    user_id = IntegerListFilter(label="User ids", help_text="One or several, comma-separated.")
    date = StrictDateFilter(label="Day (UTC)", help_text="YYYY-MM-DD, today, yesterday, now-2d/d")
    level = django_filters.MultipleChoiceFilter(choices=Level.choices, widget=LevelCheckboxes)
    min_level = django_filters.ChoiceFilter(choices=Level.choices, label="Minimum level")
    keyword = django_filters.CharFilter(
        label="Keyword",
        max_length=MAX_KEYWORD_LENGTH,
        help_text="Case-insensitive text in the message, matched literally.",
    )
    q = QueryFilter(
        strip=False,  # positions in errors count from the first character typed
        label="Query",
        help_text='Words, "a phrase", -word to leave out, logger:name, level:error, user_id:4, context.key:value.',
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
        scope: Scope,
        extra_parameters: Iterable[str] = (),
        now: datetime | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(data, queryset if queryset is not None else LogEntry.objects.none(), **kwargs)
        self.scope = scope
        self.extra_parameters = frozenset(extra_parameters)
        self.now = now

    @property
    def form(self) -> LogSearchForm:
        form = super().form
        form.extra_parameters = self.extra_parameters
        form.now = self.now
        return form

    def log_query(self) -> LogQuery:
        """The validated query, within the scope; call only when `is_valid()`.

        Raises OutsideScope when `user_id` names ids the scope does not cover.
        """
        data = self.form.cleaned_data
        user_ids: tuple[int, ...] = data.get("user_id") or ()
        outside = self.scope.outside(user_ids)
        if outside:
            raise OutsideScope(outside)
        granted = not user_ids and self.scope.user_ids is not None
        return LogQuery(
            user_ids=tuple(sorted(self.scope.user_ids or ())) if granted else user_ids,
            granted_users=granted,
            start=data["start"],
            end=data["end"],
            levels=selected_levels(data),
            keyword=data.get("keyword") or "",
            q=(data.get("q") or "").strip(),
            newest_first=(data.get("order") or "newest") == "newest",
            limit=int(data.get("page_size") or DEFAULT_PAGE_SIZE),
            time_params=data["time_params"],
        )

    @property
    def cursor_token(self) -> str | None:
        return self.form.cleaned_data.get("cursor") or None


# "from" and "to" are Python keywords, so they cannot be declared in the class body.
LogFilterSet.base_filters["from"] = TimeExpressionFilter(
    label="From (UTC)", help_text="2023-08-27T12:30:00Z, now-6h, now-2d/d, today"
)
LogFilterSet.base_filters["to"] = TimeExpressionFilter(label="To (UTC, exclusive)", help_text="2023-08-28, now, now/d")
