"""The search page and its exports. Thin: parsing is `LogFilterSet`, searching is `planner`."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from access import audit
from access.models import AuditEvent
from access.scope import read_scope
from retrieval import planner
from retrieval.admin import changelist_params
from retrieval.charts import stacked_bars
from retrieval.exports import FORMATS, export_response
from retrieval.filters import LogFilterSet
from retrieval.query import ALL_LEVELS
from retrieval.sources import SourceUnavailable


@require_GET
@login_required
def search_page(request: HttpRequest) -> HttpResponse:
    filterset = LogFilterSet(request.GET, scope=read_scope(request))
    context = {"filterset": filterset, "form": filterset.form, "levels": ALL_LEVELS}
    status = 200
    if filterset.is_valid():
        query = filterset.log_query()
        params = query.to_params()
        audit.record(AuditEvent.Action.SEARCH, request, {"door": "page", **params})
        page = planner.search(query, filterset.cursor_token)
        context.update(
            query=query,
            page=page,
            chart=stacked_bars(planner.histogram(query)),
            permalink=f"{reverse('search')}?{urlencode(params)}",
            csv_url=f"{reverse('export', args=['csv'])}?{urlencode(params)}",
            jsonl_url=f"{reverse('export', args=['jsonl'])}?{urlencode(params)}",
            admin_url=f"{reverse('admin:retrieval_logentry_changelist')}?{urlencode(changelist_params(params))}",
            next_url=f"{reverse('search')}?{urlencode({**params, 'cursor': page.next_cursor})}"
            if page.next_cursor
            else None,
        )
    else:
        status = 400 if request.GET else 200
        context["unknown_errors"] = {k: v for k, v in filterset.form.errors.items() if k not in filterset.form.fields}
    return render(request, "retrieval/search.html", context, status=status)


@require_GET
@login_required
def export(request: HttpRequest, fmt: str) -> HttpResponse | StreamingHttpResponse:
    if fmt not in FORMATS:
        return JsonResponse({"format": ["Use csv or jsonl."]}, status=404)
    filterset = LogFilterSet(request.GET, scope=read_scope(request))
    if not filterset.is_valid():
        return JsonResponse(filterset.form.errors, status=400)
    query = filterset.log_query()
    audit.record(AuditEvent.Action.EXPORT, request, {"format": fmt, **query.to_params()})
    try:
        return export_response(query, fmt)
    except SourceUnavailable as exc:
        return JsonResponse({"sources": [str(exc)]}, status=503)
