"""Ingest capacity that searches cannot take: at most SEARCH_THREADS searches at once per process.

gunicorn's gthread worker hands requests to its WEB_THREADS threads in arrival order; when
searches hold every thread, an ingest batch waits behind them (measured: ingest p50 21 s under
a 20-client mixed load, bench/mixed_load.py). A search or export beyond the limit is refused
at once with 503 and Retry-After rather than queued, so the remaining threads stay free for
ingest. An export holds its permit until its streamed body is closed.
"""

import threading
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpResponse, HttpResponseBase, JsonResponse
from django.template.loader import render_to_string

RETRY_AFTER_SECONDS = 1

_lock = threading.Lock()
_running = 0


def _acquire() -> bool:
    global _running
    limit = settings.SEARCH_THREADS
    with _lock:
        if limit and _running >= limit:
            return False
        _running += 1
        return True


def _release() -> None:
    global _running
    with _lock:
        _running -= 1


BUSY_MESSAGE = "Too many searches at once on this server; try again in a moment."


def busy_response(page: bool = False) -> HttpResponseBase:
    """503 with Retry-After: JSON for programs, or (`page`) an HTML page for people, which retries by itself."""
    if page:
        html = render_to_string("retrieval/busy.html", {"message": BUSY_MESSAGE, "seconds": RETRY_AFTER_SECONDS})
        response: HttpResponseBase = HttpResponse(html, status=503)
    else:
        response = JsonResponse({"detail": BUSY_MESSAGE}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    # Expected under load, and cheap: not one "Service Unavailable" error line per refusal (django.request).
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def search_capacity(view: Callable[..., HttpResponseBase], page: bool = False) -> Callable[..., HttpResponseBase]:
    """Run `view` (a search or an export) within the per-process search limit, or answer 503
    (as an HTML page when `page`: `search_capacity_page`)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> HttpResponseBase:
        if not _acquire():
            return busy_response(page)
        try:
            response = view(*args, **kwargs)
        except BaseException:
            _release()
            raise
        # Released when the server closes the response: after the last byte of a streamed export.
        response._resource_closers.append(_release)  # type: ignore[attr-defined]  # close() calls each
        return response

    return wrapper


def search_capacity_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """`search_capacity` for a page people read: the 503 is an HTML page that reloads itself."""
    return search_capacity(view, page=True)
