"""JSON API (Django REST framework): GET /api/v1/logs, and the seed app's route."""

import json
from collections.abc import Iterable, Iterator
from itertools import chain

from django.http import QueryDict, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from retrieval import planner
from retrieval.filters import LogFilterSet
from retrieval.serializers import LogRowSerializer, SearchPageSerializer, SeedLogSerializer, seed_record
from retrieval.sources import SourceUnavailable

# DRF's own parameter, allowed beside the filters.
API_PARAMETERS = ("format",)


def parse(data: QueryDict, extra_parameters: Iterable[str] = API_PARAMETERS) -> LogFilterSet:
    """A valid filterset, or a 400 whose body names each wrong parameter."""
    filterset = LogFilterSet(data, extra_parameters=extra_parameters)
    if not filterset.is_valid():
        raise ValidationError(filterset.form.errors)
    return filterset


def filter_parameters() -> list[OpenApiParameter]:
    """The filterset's parameters, documented in the OpenAPI schema."""
    parameters = []
    for name, definition in LogFilterSet.base_filters.items():
        choices = [value for value, _ in definition.extra.get("choices") or []]
        description = str(definition.extra.get("help_text") or definition.label or name)
        parameters.append(OpenApiParameter(name, str, enum=choices or None, description=description))
    return parameters


class LogsAPIView(APIView):
    # Token first, so that a missing or wrong token is a 401 with WWW-Authenticate: Token.
    authentication_classes = [TokenAuthentication, SessionAuthentication]


class LogSearchView(LogsAPIView):
    """Search logs: the same parameters and meaning as the search page."""

    @extend_schema(
        parameters=filter_parameters(),
        responses={200: SearchPageSerializer, 400: OpenApiResponse(description="names each invalid parameter")},
    )
    def get(self, request: Request) -> Response:
        filterset = parse(request.query_params)
        page = planner.search(filterset.log_query(), filterset.cursor_token)
        next_url = None
        if page.next_cursor:
            params = request.query_params.copy()
            params["cursor"] = page.next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response(
            {
                "results": LogRowSerializer(page.rows, many=True).data,
                "next_cursor": page.next_cursor,
                "next": next_url,
                "sources": page.sources,
                "partial": page.partial,
            }
        )


class SeedLogsView(LogsAPIView):
    """The Flask seed app's route, kept for its clients: a JSON list of
    {date, log_level, user_id, log_message}, oldest first; 400 on bad input, 404 when
    nothing matches. Unlike the seed, it needs a login or an API token."""

    @extend_schema(
        parameters=[OpenApiParameter("keyword", str, description="case-insensitive text in the message")],
        responses={200: SeedLogSerializer(many=True), 400: OpenApiResponse(), 404: OpenApiResponse()},
    )
    def get(self, request: Request, day: str, user_id: str, level: str) -> Response | StreamingHttpResponse:
        unknown = set(request.query_params) - {"keyword", *API_PARAMETERS}
        if unknown:
            raise ValidationError({name[:50]: ["Unknown parameter."] for name in sorted(unknown)})
        data = request.query_params.copy()
        data.update({"date": day, "user_id": user_id, "level": level, "order": "oldest"})
        filterset = parse(data)
        rows = planner.iter_all(filterset.log_query())
        try:
            first = next(rows, None)
        except SourceUnavailable as exc:
            return Response({"detail": str(exc)}, status=503)
        if first is None:
            return Response({"detail": "No logs found."}, status=404)
        return StreamingHttpResponse(json_array(chain([first], rows)), content_type="application/json")


def json_array(rows: Iterable) -> Iterator[str]:
    """Stream a JSON list without holding it in memory."""
    yield "["
    for index, row in enumerate(rows):
        yield ("," if index else "") + json.dumps(seed_record(row))
    yield "]"
