from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ERROR_FLAG, ORDER_VAR, PAGE_VAR, SEARCH_VAR, ChangeList
from django.core.paginator import InvalidPage, Page
from django.db import DatabaseError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from pymongo.errors import PyMongoError

from access.scope import OutsideScope, read_scope
from doors import door
from explorer.pagination import WindowPaginator, parse_page_number
from logsite.admin import ReadOnlyAdminMixin, utc_time
from retrieval.hooks import archived_days
from retrieval.models import LogEntry
from retrieval.sources import SourceUnavailable, answered_in_time

# The search parameters the admin sidebar takes; the keyword is the admin's search box ("q").
SIDEBAR_PARAMETERS = ("user_id", "date", "from", "to", "level", "min_level")
TIME_PARAMETERS = {"date", "from", "to"}
# Everything the log list takes: the sidebar, the search box, the page, the sort column and
# Django's "e" (its redirect after a bad lookup). Any other parameter would reach the ORM as a
# raw lookup (message__regex=... went to MongoDB unescaped, context__has_key=x was a 500).
CHANGELIST_PARAMETERS = frozenset({*SIDEBAR_PARAMETERS, SEARCH_VAR, PAGE_VAR, ORDER_VAR, ERROR_FLAG})


def day_list(days: list[date]) -> str:
    """ "2023-08-25", "2023-08-25 and 2023-08-27", or "5 days from 2023-08-01 to 2023-08-09"."""
    if len(days) > 3:
        return f"{len(days)} days from {days[0]} to {days[-1]}"
    named = [str(day) for day in days]
    return " and ".join(filter(None, [", ".join(named[:-1]), named[-1]]))


def search_data(request: HttpRequest) -> QueryDict:
    """The shared search parameters in an admin request, under the search page's names."""
    data = QueryDict(mutable=True)
    for name in SIDEBAR_PARAMETERS:
        if name in request.GET:
            data.setlist(name, request.GET.getlist(name))
    if request.GET.get("q"):
        data["keyword"] = request.GET["q"]
    return data


def changelist_params(search_params: dict[str, str]) -> dict[str, str]:
    """A search page query (`LogQuery.to_params`) as the log list takes it: the keyword is the
    search box; the order is left out (the list is newest first, sortable by its columns)."""
    params = {name: value for name, value in search_params.items() if name in SIDEBAR_PARAMETERS}
    if search_params.get("keyword"):
        params[SEARCH_VAR] = search_params["keyword"]
    return params


def refused_parameters(request: HttpRequest) -> dict[str, str]:
    """The parameters of a changelist request that the log list does not take, with the reason."""
    refused = {name: "not a filter of this list" for name in request.GET if name not in CHANGELIST_PARAMETERS}
    if PAGE_VAR in request.GET:
        try:
            parse_page_number(request.GET[PAGE_VAR])
        except InvalidPage as exc:
            refused[PAGE_VAR] = str(exc)
    return refused


class LogChangeList(ChangeList):
    """The log list, one page window at a time: no count (no "N results", page numbers or "Show all"),
    only "previous" and "next", and MongoDB's part within the search deadline."""

    page: Page | None = None
    unanswered = ""  # why MongoDB gave no rows, when it did not answer

    def get_results(self, request: HttpRequest) -> None:
        paginator = self.model_admin.get_paginator(request, self.queryset, self.list_per_page)
        self.paginator = paginator
        self.result_count = 0
        self.full_result_count = None
        self.show_full_result_count = False
        self.show_admin_actions = True
        self.can_show_all = False
        self.multi_page = False
        self.result_list = []
        try:
            with answered_in_time():
                try:
                    self.page = paginator.page(self.page_num)
                except DatabaseError as exc:
                    # The ORM wraps pymongo's error, which answered_in_time tells a timeout by.
                    if isinstance(exc.__cause__, PyMongoError):
                        raise exc.__cause__ from exc
                    raise
        except SourceUnavailable as exc:
            self.unanswered = door.unavailable(request, exc)
            messages.error(request, f"No logs shown: {self.unanswered}.")
            return
        self.result_list = list(self.page.object_list)
        self.result_count = paginator.count
        self.multi_page = self.page.has_next() or self.page.has_previous()


class SearchFilter(admin.ListFilter):
    """The search page's filters (`LogFilterSet`) in the changelist sidebar.

    Without a time range the admin browses all hot logs; with one it covers the
    same [from, to) as the search page.
    """

    title = "search"
    template = "retrieval/admin_filter.html"

    def __init__(
        self,
        request: HttpRequest,
        params: dict[str, list[str]],
        model: type[Model],
        model_admin: admin.ModelAdmin[Any],
    ) -> None:
        super().__init__(request, params, model, model_admin)
        for name in SIDEBAR_PARAMETERS:
            if name in params:
                self.used_parameters[name] = params.pop(name)
        self.filterset = door.filterset(search_data(request), request)

    def has_output(self) -> bool:
        return True

    def choices(self, changelist: ChangeList) -> Iterator[Mapping[str, object]]:
        return iter(())

    def expected_parameters(self) -> list[str | None]:
        return list(SIDEBAR_PARAMETERS)

    def queryset(self, request: HttpRequest, queryset: QuerySet[LogEntry]) -> QuerySet[LogEntry]:
        if not self.filterset.is_valid():
            for name, errors in self.filterset.form.errors.items():
                messages.error(request, f"{name}: {' '.join(map(str, errors))}")
            return queryset.none()
        with_time = bool(TIME_PARAMETERS & set(request.GET))
        try:
            query = self.filterset.log_query()
        except OutsideScope as exc:
            messages.error(request, str(exc))
            return queryset.none()
        return queryset.filter(query.orm_q(with_time=with_time))


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only browsing of hot logs; stays fast at millions of rows (no counts)."""

    time_utc = utc_time("timestamp", "Time")
    list_display = ("time_utc", "level", "user_id", "message")
    fields = ("id", "time_utc", "level", "user_id", "logger", "message", "context_json", "links")
    readonly_fields = fields
    list_filter = (SearchFilter,)
    # The search box is the shared `keyword`; SearchFilter applies it (see get_search_results).
    search_fields = ("message",)
    search_help_text = "Case-insensitive text in the message, matched literally."
    ordering = ("-timestamp",)
    list_per_page = 100
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts are full counts
    actions = None
    change_list_template = "retrieval/admin_change_list.html"

    @admin.display(description="context")
    def context_json(self, entry: LogEntry) -> str:
        if entry.context is None:
            return "-"
        pretty = json.dumps(entry.context, indent=2, ensure_ascii=False, default=str)
        # Wrapped, so that a long value does not widen the page on a phone.
        return format_html(
            '<pre class="log-context" style="white-space: pre-wrap; overflow-wrap: anywhere">{}</pre>', pretty
        )

    @admin.display(description="in the log explorer")
    def links(self, entry: LogEntry) -> SafeString:
        return format_html(
            '<a href="{}">this log</a> · <a href="{}">logs around it</a>',
            reverse("log", args=[entry.pk]),
            reverse("log-around", args=[entry.pk]),
        )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return LogChangeList

    def get_queryset(self, request: HttpRequest) -> QuerySet[LogEntry]:
        # The detail pages too (get_object goes through here): only the logs of user_ids granted to the reader.
        queryset = super().get_queryset(request)
        scope = read_scope(request)
        return queryset if scope.user_ids is None else queryset.filter(user_id__in=sorted(scope.user_ids))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[LogEntry], search_term: str
    ) -> tuple[QuerySet[LogEntry], bool]:
        # SearchFilter has already applied the keyword with the search page's meaning
        # (one literal substring), not the admin's default (every word separately).
        return queryset, False

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[LogEntry],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> WindowPaginator:
        # The changelist's page parameter is "p", counted from 1.
        return WindowPaginator(queryset, per_page, page_number=request.GET.get("p", 1))

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # Only SearchFilter's own parameters; it validates them and builds the query itself.
        return lookup in SIDEBAR_PARAMETERS

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        refused = refused_parameters(request)
        if refused:
            # Said in the page (not a bare 400), and the same list without the refused parameters.
            for name, reason in sorted(refused.items())[:10]:
                messages.error(request, f"Parameter “{name[:50]}” refused: {reason.rstrip('.')}.")
            kept = request.GET.copy()
            for name in refused:
                del kept[name]
            return HttpResponseRedirect(f"{request.path}?{kept.urlencode()}")
        data = search_data(request)
        extra_context = {**(extra_context or {}), "search_url": f"{reverse('search')}?{urlencode(data, doseq=True)}"}
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data and TIME_PARAMETERS & set(request.GET):
            days = in_archive(response.context_data["cl"])
            response.context_data["archived_days"] = day_list(days) if days else ""
        return response


def in_archive(changelist: ChangeList) -> list[date]:
    """The days of the list's (valid) time range whose logs the list cannot show: they are archived."""
    search = next(spec for spec in changelist.filter_specs if isinstance(spec, SearchFilter))
    return archived_days(search.filterset.log_query()) if search.filterset.is_valid() else []
