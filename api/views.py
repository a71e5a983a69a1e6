"""JSON API (Django REST framework): GET /api/v1/logs (search), POST /api/v1/logs (send), and the seed app's route.

Thin: the OpenAPI declarations are `api.schema`'s, scope, audit and an unavailable source are
`doors.door`'s (and `doors.apiview.LogsAPIView`'s), sending is `intake`'s.
"""

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import chain

from django.http import QueryDict, StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from access.scope import write_scope
from api import schema
from api.serializers import API_PARAMETERS, LogRowSerializer
from doors import door
from doors.apiview import LogsAPIView
from doors.capacity import search_capacity
from intake.bodies import MAX_BODY_BYTES, BodyError, read_records
from intake.ingest import IngestError, IngestForbidden, IngestUnavailable, TooManyRecords, ingest_logs
from retrieval import planner
from retrieval.filters import LogFilterSet


def parse(
    data: QueryDict, request: Request, extra_parameters: Iterable[str] = API_PARAMETERS, now: datetime | None = None
) -> LogFilterSet:
    """A valid filterset within the caller's read scope (relative times read at `now`, default: the time of the
    request), or a 400 naming each wrong parameter."""
    filterset = door.filterset(data, request, extra_parameters=extra_parameters, now=now)
    if not filterset.is_valid():
        raise ValidationError(
            {name: [str(message) for message in messages] for name, messages in filterset.form.errors.items()}
        )
    return filterset


class APIView(LogsAPIView):
    """A view of the JSON API: its query parameters documented as the filterset reads them."""

    schema = schema.FilterSetSchema()


class LogSearchView(APIView):
    """GET searches logs (the same parameters and meaning as the search page); POST sends logs."""

    throttle_scopes = {"GET": "search", "POST": "ingest"}

    @extend_schema(**schema.SEARCH)
    @search_capacity
    def get(self, request: Request) -> Response:
        filterset = parse(request.query_params, request)
        query = filterset.log_query()
        door.audit_search(request, query, door="api")
        page = planner.search(query, filterset.cursor_token)
        return Response(
            {
                "results": LogRowSerializer(page.rows, many=True).data,
                "next_cursor": page.next_cursor,
                "next": page_url(request, page.next_cursor),
                "prev_cursor": page.prev_cursor,
                "previous": page_url(request, page.prev_cursor),
                "offset": page.offset,
                "sources": door.sources(request, page.sources),
                "partial": page.partial,
            }
        )

    @extend_schema(**schema.INGEST)
    def post(self, request: Request) -> Response:
        try:
            # Read here rather than by DRF's parsers: they see no chunked body and inflate no gzip.
            records = read_records(request._request, MAX_BODY_BYTES)
        except BodyError as exc:
            return Response({"body": [str(exc)]}, status=exc.status)
        try:
            result = ingest_logs(records, scope=write_scope(request))
        except IngestForbidden as exc:
            return Response(exc.errors, status=403)
        except TooManyRecords as exc:
            return Response(exc.errors, status=413)
        except IngestError as exc:
            raise ValidationError(exc.errors) from exc
        except IngestUnavailable as exc:
            return Response({"detail": str(exc)}, status=503)
        return Response({"inserted": result.inserted, "duplicates": result.duplicates, "ids": result.ids}, status=201)


class SeedLogsView(APIView):
    """The Flask seed app's route, kept for its clients: a JSON list of
    {date, log_level, user_id, log_message}, oldest first; 400 on bad input, 404 when
    nothing matches. Unlike the seed, it needs a login or an API token."""

    throttle_scopes = {"GET": "search"}

    @extend_schema(**schema.SEED)
    @search_capacity
    def get(self, request: Request, day: str, user_id: str, level: str) -> Response | StreamingHttpResponse:
        unknown = set(request.query_params) - {"keyword", *API_PARAMETERS}
        if unknown:
            raise ValidationError({name[:50]: ["Unknown parameter."] for name in sorted(unknown)})
        data = request.query_params.copy()
        data.update({"date": day, "user_id": user_id, "level": level, "order": "oldest"})
        query = parse(data, request).log_query()
        door.audit_search(request, query, door="seed")
        rows = planner.iter_all(query)
        first = next(rows, None)  # read before answering: a source that cannot answer is a 503, not a cut list
        if first is None:
            return Response({"detail": "No logs found."}, status=404)
        return StreamingHttpResponse(json_array(chain([first], rows)), content_type="application/json")


def json_array(rows: Iterable) -> Iterator[str]:
    """Stream a JSON list without holding it in memory."""
    yield "["
    for index, row in enumerate(rows):
        yield ("," if index else "") + json.dumps(door.seed_record(row))
    yield "]"


def page_url(request: Request, cursor: str | None) -> str | None:
    """This search's URL with `cursor` (None without one): the parameters as the client sent them, none empty."""
    if cursor is None:
        return None
    params = QueryDict(mutable=True)
    for name, values in request.query_params.lists():
        if name != "cursor" and any(values):
            params.setlist(name, [value for value in values if value])
    params["cursor"] = cursor
    return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
