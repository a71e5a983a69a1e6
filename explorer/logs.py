"""The explorer's pages on one log: the log itself and the logs around it, found hot or archived."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from doors import door
from explorer.links import search_url
from retrieval import planner
from retrieval.query import LogRow
from retrieval.sources import SourceUnavailable

# Logs shown before and after one on its "logs around" page.
AROUND = 50


class LogUnavailable(Exception):
    """The log was not found and a storage could not answer: it may be there (a 503, not a 404)."""


def log_view(view: Callable[[HttpRequest, str], HttpResponse]) -> Callable[[HttpRequest, str], HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, log_id: str) -> HttpResponse:
        try:
            return view(request, log_id)
        except LogUnavailable as exc:
            return render(request, "retrieval/log.html", {"unavailable": str(exc)}, status=503)

    return wrapped


@require_GET
@login_required
@log_view
def log_page(request: HttpRequest, log_id: str) -> HttpResponse:
    """One log, found hot or cold, with links to the logs around it and to its user's day."""
    row = find_readable_log(request, log_id)
    day = f"{row.timestamp:%Y-%m-%d}"
    context = {"row": row, "user_day_url": search_url({"date": day, "user_id": str(row.user_id)})}
    return render(request, "retrieval/log.html", context)


@require_GET
@login_required
@log_view
def log_around(request: HttpRequest, log_id: str) -> HttpResponse:
    """The AROUND logs before and after one log from its user, at every level, hot and cold; the log marked."""
    row = find_readable_log(request, log_id)
    found = planner.around(row, door.reader_query(request), AROUND, AROUND)
    # The log itself between its neighbours (whether or not `around` counted it among them).
    rows = [*(r for r in found.before if r.id != row.id), row, *(r for r in found.after if r.id != row.id)]
    context = {"row": row, "rows": rows, "before": AROUND, "after": AROUND, "found": found}
    return render(request, "retrieval/around.html", context)


def find_readable_log(request: HttpRequest, log_id: str) -> LogRow:
    try:
        row = planner.find_log(log_id, door.reader_query(request))
    except SourceUnavailable as exc:
        raise LogUnavailable(door.unavailable(request, exc)) from exc
    if row is None:
        raise Http404("No log with this id, or not one you may read.")
    return row
