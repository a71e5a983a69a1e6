"""The log explorer's pages (search, one log, logs around it, saved searches) and exports.

Thin: parsing (in the caller's scope), audit and an unavailable source are `doors.door`'s, searching is
`planner`'s, links are `explorer.links`'.
"""

from datetime import datetime
from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from access.models import AuditEvent
from access.scope import read_scope
from doors import door
from doors.capacity import search_capacity, search_capacity_page
from doors.throttles import throttled
from explorer.admin import changelist_params
from explorer.charts import stacked_bars
from explorer.exports import FORMATS, export_response
from explorer.forms import SavedSearchForm, add_input_hints, search_query_string
from explorer.links import query_url, refined, search_url, zoomed
from retrieval import livetail, planner
from retrieval.models import SavedSearch, UserPreference
from retrieval.query import ALL_LEVELS, InvalidCursor, LogQuery
from retrieval.sources import SourceUnavailable

# Rows a live tail keeps in the table (at least a page): the oldest go as new ones come.
TAIL_TABLE_ROWS = 500
# The time picker's relative presets: (label, `from` value); `to` is now.
TIME_PRESETS = (
    ("15 min", "now-15m"),
    ("1 h", "now-1h"),
    ("24 h", "now-24h"),
    ("7 days", "now-7d"),
    ("30 days", "now-30d"),
)


@require_GET
@login_required
@search_capacity_page
def search_page(request: HttpRequest) -> HttpResponse:
    return render_search(request, request.GET)


def render_search(
    request: HttpRequest, data: QueryDict, save_form: SavedSearchForm | None = None, status: int = 200
) -> HttpResponse:
    """The search page for the parameters `data` (the form, a page of rows, the saved searches).

    The histogram is not computed here: the page loads it from `histogram_page` (rows first).
    """
    scope = read_scope(request)  # also the saved-search form's
    # One clock for the range and the live tail's rule (a range that runs to now ends exactly at `now`).
    now = timezone.now()
    filterset = door.filterset(data, request, now=now)
    query_string = search_query_string(data)
    context = {
        "filterset": filterset,
        "form": add_input_hints(filterset.form),
        "levels": ALL_LEVELS,
        "presets": TIME_PRESETS,
        "preset_links": [(label, search_url({"from": value})) for label, value in TIME_PRESETS],
        "saved_searches": SavedSearch.objects.filter(user_id=owner_id(request)),
        "save_form": save_form or SavedSearchForm(initial={"query": query_string}, scope=scope),
        "this_search": query_url(query_string),
    }
    if filterset.is_valid():
        query = filterset.log_query()
        params = query.to_params()
        context["preset_links"] = [
            (label, search_url(refined(params, date=None, to=None, **{"from": value}))) for label, value in TIME_PRESETS
        ]
        door.audit_search(request, query, door="page")
        page = planner.search(query, filterset.cursor_token)
        # The partial-results notice prints these: no internal hosts for non-staff.
        page.sources = door.sources(request, page.sources)
        tail_off = tail_refusal(query, filterset.cursor_token, now)
        context.update(
            query=query,
            params=params,
            page=page,
            histogram_url=f"{reverse('search-histogram')}?{urlencode(params)}",
            permalink=search_url(params),
            csv_url=f"{reverse('export', args=['csv'])}?{urlencode(params)}",
            jsonl_url=f"{reverse('export', args=['jsonl'])}?{urlencode(params)}",
            admin_url=f"{reverse('admin:retrieval_logentry_changelist')}?{urlencode(changelist_params(params))}",
            next_url=search_url({**params, "cursor": page.next_cursor}) if page.next_cursor else None,
            prev_url=search_url({**params, "cursor": page.prev_cursor}) if page.prev_cursor else None,
            # Its total comes with the histogram (explorer.js adds "of 2,345"; without JavaScript, the chart says it).
            position=page_position(page.offset, len(page.rows)),
            position_last=page.offset + len(page.rows) - 1,
            tail_off=tail_off,
            tail_url=None if tail_off else f"{reverse('tail-rows')}?{urlencode(params)}",
            # The tail goes on from this page's newest rows: its first poll does not read the range again.
            tail_after=None if tail_off else livetail.tail_cursor(page.rows, now),
            tail_max_rows=max(TAIL_TABLE_ROWS, query.limit),
        )
    else:
        status = 400 if data else status
        context["unknown_errors"] = {k: v for k, v in filterset.form.errors.items() if k not in filterset.form.fields}
    return render(request, "retrieval/search.html", context, status=status)


def tail_refusal(query: LogQuery, cursor: str | None, now: datetime) -> str:
    """Why the page offers no live tail of this search ("" when it does): the toggle, disabled, says it."""
    if livetail.tail_range_ended(query, now):
        return "Live tail needs a time range that runs to now (a “Last” preset, or no To)."
    if not query.newest_first:
        return "Live tail shows the newest logs first: choose newest first."
    if cursor:
        return "Live tail starts on the first page."
    return ""


def page_position(offset: int, rows: int) -> str:
    """ "101-200": the page's rows (offset is 1-based) in the search's order."""
    return f"{offset:,}–{offset + rows - 1:,}" if rows else ""


@require_GET
@login_required
@xframe_options_sameorigin  # the search page frames it when JavaScript is off
@search_capacity_page
def histogram_page(request: HttpRequest) -> HttpResponse:
    """The search's histogram, alone: the search page loads it after its rows (or frames it, without JavaScript)."""
    filterset = door.filterset(request.GET, request)
    if not filterset.is_valid():
        return JsonResponse(filterset.form.errors, status=400)
    query = filterset.log_query()
    params = query.to_params()
    histogram = planner.histogram(query)
    # Zooming in lands on the chart, not on the top of the page.
    chart = stacked_bars(histogram, query.end, lambda a, b: f"{search_url(zoomed(params, a, b))}#histogram")
    context = {
        "query": query,
        "params": params,
        "levels": ALL_LEVELS,
        "chart": chart,
        # A keyword over a long range may be counted only in part within the search's deadline.
        "histogram_partial": door.sources(request, histogram.sources, "histogram") if histogram.partial else None,
    }
    return render(request, "retrieval/histogram.html", context)


@require_GET
@login_required
@throttled("search")
@search_capacity
def tail_rows(request: HttpRequest) -> HttpResponse:
    """The page's live tail: the rows that arrived since `after`, newest first, in the search page's row markup.

    The same rule and reading as GET /api/v1/logs/tail (`livetail.tail`); the cursor and whether
    the page was full are attributes of the returned <tbody>.
    """
    data = request.GET.copy()
    after = data.pop("after", [""])[-1]
    now = timezone.now()
    filterset = door.filterset(data, request, now=now)
    if not filterset.is_valid():
        return JsonResponse(filterset.form.errors, status=400)
    query = filterset.log_query()
    try:
        page = livetail.tail(query, after or None, now)
    except InvalidCursor as exc:
        return JsonResponse({"after": [str(exc)]}, status=400)
    except livetail.TailRangeEnded as exc:
        return JsonResponse({exc.parameter: [str(exc)]}, status=400)
    context = {"tail": page, "rows": page.rows[::-1], "params": query.to_params(), "query": query}
    return render(request, "retrieval/tail_rows.html", context)


def owner_id(request: HttpRequest) -> int:
    # Behind login_required: the user is a saved one.
    return cast(int, request.user.pk)


@require_POST
@login_required
def save_search(request: HttpRequest) -> HttpResponse:
    """Save the search under a name (replacing the user's search of that name); back to it."""
    form = SavedSearchForm(request.POST, scope=read_scope(request))
    if not form.is_valid():
        return render_search(request, QueryDict(request.POST.get("query", "")), save_form=form, status=400)
    name, query = form.cleaned_data["name"], form.cleaned_data["query"]
    SavedSearch.objects.update_or_create(user_id=owner_id(request), name=name, defaults={"query": query})
    messages.success(request, f"Saved the search “{name}”.")
    return redirect(query_url(query))


@require_POST
@login_required
def delete_saved_search(request: HttpRequest, pk: int) -> HttpResponse:
    saved = get_object_or_404(SavedSearch, pk=pk, user_id=owner_id(request))
    saved.delete()
    messages.success(request, f"Deleted the saved search “{saved.name}”.")
    back = request.POST.get("next", "")
    allowed = url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()})
    return redirect(back if allowed else reverse("search"))


@require_GET
@login_required
@throttled("export")
@search_capacity
def export(request: HttpRequest, fmt: str) -> HttpResponse | StreamingHttpResponse:
    if fmt not in FORMATS:
        return JsonResponse({"format": ["Use csv or jsonl."]}, status=404)
    filterset = door.filterset(request.GET, request)
    if not filterset.is_valid():
        return JsonResponse(filterset.form.errors, status=400)
    query = filterset.log_query()
    door.audit_search(request, query, AuditEvent.Action.EXPORT, format=fmt)
    try:
        return export_response(query, fmt)
    except SourceUnavailable as exc:
        return JsonResponse({"sources": [door.unavailable(request, exc, "export")]}, status=503)


@require_POST
@login_required
def time_preference(request: HttpRequest) -> HttpResponse:
    """Remember for this user whether times show in local time (explorer.js posts `local_time` 1 or 0)."""
    choice = request.POST.get("local_time")
    if choice not in ("0", "1"):
        return JsonResponse({"local_time": ["Give 1 (local time) or 0 (UTC)."]}, status=400)
    UserPreference.objects.update_or_create(user_id=owner_id(request), defaults={"local_time": choice == "1"})
    return HttpResponse(status=204)


def time_preference_context(request: HttpRequest) -> dict[str, object]:
    """Template context for every page (settings.TEMPLATES): the user's time choice, read only if a page uses it."""
    return {"local_time": SimpleLazyObject(lambda: UserPreference.local_time_for(request.user))}
