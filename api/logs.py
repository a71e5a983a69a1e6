"""JSON API on single logs: GET /api/v1/logs/<id>, its context, and the live tail (GET /api/v1/logs/tail).

A source that cannot answer is `LogsAPIView`'s 503; the declarations are `api.schema`'s.
"""

import re

from django.http import QueryDict
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from api import schema
from api.serializers import ContextParameters, LogRowSerializer, OnlyParameters
from api.views import APIView, parse
from doors import door
from retrieval import livetail, planner
from retrieval.query import InvalidCursor, LogRow

LOG_ID_PATTERN = re.compile(r"[0-9a-fA-F]{24}")


def found_log(request: Request, log_id: str) -> LogRow:
    """The log with this id the caller may read; a 400 naming `id` when it is not an id, a 404 when not found."""
    if not LOG_ID_PATTERN.fullmatch(log_id):
        raise ValidationError({"id": ["Not a log id: 24 hexadecimal digits."]})
    row = planner.find_log(log_id.lower(), door.reader_query(request))
    if row is None:
        raise NotFound("No log with this id that you may read.")
    return row


class LogDetailView(APIView):
    """GET one log by id, found in MongoDB or in the archive."""

    throttle_scopes = {"GET": "search"}

    @extend_schema(**schema.DETAIL)
    def get(self, request: Request, id: str) -> Response:  # the path's parameter, named as the API names it
        OnlyParameters(data=request.query_params).is_valid(raise_exception=True)
        return Response(LogRowSerializer(found_log(request, id)).data)


class LogContextView(APIView):
    """GET the logs around one: the same user's, at every level, hot and archived."""

    throttle_scopes = {"GET": "search"}

    @extend_schema(**schema.CONTEXT)
    def get(self, request: Request, id: str) -> Response:
        parameters = ContextParameters(data=request.query_params)
        parameters.is_valid(raise_exception=True)
        row = found_log(request, id)
        found = planner.around(row, door.reader_query(request), **parameters.validated_data)
        return Response(
            {
                "log": LogRowSerializer(row).data,
                "before": LogRowSerializer(found.before, many=True).data,
                "after": LogRowSerializer(found.after, many=True).data,
                "sources": door.sources(request, found.sources),
                "partial": found.partial,
            }
        )


class LogTailView(APIView):
    """GET the logs that arrived since the last poll (a live tail)."""

    throttle_scopes = {"GET": "search"}

    @extend_schema(**schema.TAIL)
    def get(self, request: Request) -> Response:
        data: QueryDict = request.query_params.copy()
        after = data.pop("after", [None])[-1]
        refused = {name: ["Not a parameter of the tail."] for name in ("cursor", "order") if name in data}
        if refused:
            raise ValidationError(refused)
        # One clock for the range and the tail: a range that runs to now ends exactly at `now`.
        now = timezone.now()
        query = parse(data, request, now=now).log_query()
        try:
            page = livetail.tail(query, after or None, now)
        except InvalidCursor as exc:
            raise ValidationError({"after": [str(exc)]}) from exc
        except livetail.TailRangeEnded as exc:
            raise ValidationError({exc.parameter: [str(exc)]}) from exc
        if not after:
            # Its start only: a tail polls every few seconds, a row per poll would bury the trail.
            door.audit_search(request, query, door="tail")
        return Response(
            {
                "results": LogRowSerializer(page.rows, many=True).data,
                "cursor": page.cursor,
                "poll_seconds": page.poll_seconds,
                "sources": door.sources(request, page.sources),
                "partial": page.partial,
            },
            headers={"Retry-After": str(page.poll_seconds)},
        )
