"""JSON API (Django REST framework): GET /api/v1/logs, and the seed app's route."""

import json
from collections.abc import Iterable, Iterator
from itertools import chain

from django.http import QueryDict, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from retrieval import planner
from retrieval.filters import LogFilterSet
from retrieval.ingest import IngestError, IngestUnavailable, ingest_logs
from retrieval.serializers import LogRowSerializer, SearchPageSerializer, SeedLogSerializer, seed_record
from retrieval.sources import SourceUnavailable

MAX_INGEST_BODY_BYTES = 16 * 1024 * 1024
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


class BodyJSONParser(JSONParser):
    """DRF's JSON parser; JSON nested deeper than Python's parser recurses is a 400 naming the body."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:  # e.g. [[[[...]]]] 100,000 deep; DRF catches only ValueError
            raise ParseError({"body": ["JSON nested too deeply."]}) from None


class LogsAPIView(APIView):
    # Token first, so that a missing or wrong token is a 401 with WWW-Authenticate: Token.
    authentication_classes = [TokenAuthentication, SessionAuthentication]


class LogSearchView(LogsAPIView):
    """GET searches logs (the same parameters and meaning as the search page); POST sends logs."""

    parser_classes = [BodyJSONParser]

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

    @extend_schema(
        request={"application/json": {"type": "object", "properties": {"logs": {"type": "array"}}}},
        responses={
            201: OpenApiResponse(description="`inserted`, `duplicates` (ids already stored) and every record's `ids`"),
            400: OpenApiResponse(description="names each invalid field as logs[i].field; nothing is written"),
            413: OpenApiResponse(description="body larger than the limit"),
            503: OpenApiResponse(description="hot storage did not confirm the write; send the same batch again"),
        },
        description=(
            'Send up to 10,000 logs: `{"logs": [{"timestamp": "2023-08-27T12:30:00Z", "user_id": 4, '
            '"level": "error", "message": "...", "logger": "...", "context": {...}, "id": "<24 hex>"}]}`. '
            "A record without `id` gets one derived from its content, so a re-sent batch stores nothing twice."
        ),
    )
    def post(self, request: Request) -> Response:
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_INGEST_BODY_BYTES:
            return Response({"body": [f"Larger than {MAX_INGEST_BODY_BYTES:,} bytes; split the batch."]}, status=413)
        body = request.data
        records = body.get("logs") if isinstance(body, dict) else body
        try:
            result = ingest_logs(records)
        except IngestError as exc:
            raise ValidationError(exc.errors) from exc
        except IngestUnavailable as exc:
            return Response({"detail": str(exc)}, status=503)
        return Response({"inserted": result.inserted, "duplicates": result.duplicates, "ids": result.ids}, status=201)


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
