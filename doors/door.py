"""The one helper every front door (the explorer's pages and exports, the admin, the JSON API, the seed
route) calls: the caller's read scope, the audit of a search, how a source that cannot answer is told
(an error text as this caller may see it, a 503), and the JSON shape of a row.

A door parses with `filterset(data, request)` (the scope is the request's, never given by the door),
records what it searched with `audit_search`, and answers a `SourceUnavailable` with `unavailable`
(or, in a DRF view, lets `doors.apiview.LogsAPIView` answer it); the rest is the door's own markup.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.http import HttpRequest, QueryDict

from access import audit
from access.models import AuditEvent
from access.scope import read_scope
from logsite.disclosure import is_staff, shown, shown_error
from retrieval.filters import LogFilterSet
from retrieval.query import LogQuery, LogRow, isoformat
from retrieval.sources import SourceUnavailable

# A request as a door has it: Django's HttpRequest or DRF's Request (which wraps one).
Request = HttpRequest | Any


def filterset(
    data: QueryDict, request: Request, extra_parameters: Iterable[str] = (), now: datetime | None = None
) -> LogFilterSet:
    """The search parameters `data` as the one definition of a valid search reads them, within the caller's
    read scope (a `user_id` outside it is the filterset's error)."""
    return LogFilterSet(data, scope=read_scope(request), extra_parameters=extra_parameters, now=now)


def reader_query(request: Request) -> LogQuery:
    """The search of everything the caller may read (their scope, no filter of theirs): for one log by id and
    the logs around it."""
    parsed = filterset(QueryDict(), request)
    parsed.is_valid()
    return parsed.log_query()


def audit_search(request: Request, query: LogQuery, action: str = AuditEvent.Action.SEARCH, **labels: str) -> None:
    """Record that this caller searched (or exported) `query`; `labels` (the door, the export's format) first."""
    audit.record(action, request, {**labels, **query.to_params()})


def detailed(request: Request) -> bool:
    """Whether this caller may read a failing service's own error text (staff), not just "unavailable"."""
    return is_staff(request.user)


def unavailable(request: Request, exc: SourceUnavailable, what: str = "search") -> str:
    """The text of a source that could not answer as this caller may see it (logged in full); a door answers
    it 503 (the seed route, exports, one log) or shows the page partial."""
    return shown_error(str(exc), detailed(request), what)


def sources(request: Request, statuses: dict[str, str], what: str = "search") -> dict[str, str]:
    """Each source's "ok" or error text as this caller may see it (a partial page names them)."""
    return shown(statuses, detailed(request), what)


def row_record(row: LogRow) -> dict:
    """A log row as the API, the JSON Lines and CSV exports write it."""
    return {
        "id": row.id,
        "timestamp": isoformat(row.timestamp),
        "user_id": row.user_id,
        "level": row.level,
        "message": row.message,
        "logger": row.logger,
        "context": row.context,
        "source": row.source,
        "metrics": row.metrics,
    }


def seed_record(row: LogRow) -> dict:
    """The Flask seed app's field names, for its existing clients."""
    return {
        "date": isoformat(row.timestamp),
        "log_level": row.level,
        "user_id": row.user_id,
        "log_message": row.message,
    }
