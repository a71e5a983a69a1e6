"""JSON API (Django REST framework): GET /api/v1/logs, and the seed app's route."""

import json
import math
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import NoReturn

from django.conf import settings
from django.http import QueryDict, StreamingHttpResponse
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ComponentRegistry
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from access import audit
from access.models import AuditEvent
from access.scope import Scope, read_scope, write_scope
from access.tokens import TokenAuthentication, TokenScopes
from logsite.disclosure import is_staff, shown, shown_error
from retrieval import planner
from retrieval.bodies import MAX_BODY_BYTES, BodyError, read_records
from retrieval.capacity import search_capacity
from retrieval.filters import MAX_USER_ID, MAX_USER_IDS, OUT_OF_RANGE, LogFilterSet
from retrieval.ingest import MAX_RECORDS, IngestError, IngestForbidden, IngestUnavailable, ingest_logs
from retrieval.models import Level
from retrieval.query import MAX_KEYWORD_LENGTH, MAX_PAGE_SIZE
from retrieval.serializers import (
    ERRORS_SCHEMA,
    NO_NUL_PATTERN,
    DetailSerializer,
    IngestResultSerializer,
    LogBatchSerializer,
    LogRowSerializer,
    SearchPageSerializer,
    SeedLogSerializer,
    seed_record,
)
from retrieval.sources import SourceUnavailable
from retrieval.throttles import ScopeThrottle

# DRF's own parameter, allowed beside the filters.
API_PARAMETERS = ("format",)


def parse(data: QueryDict, scope: Scope, extra_parameters: Iterable[str] = API_PARAMETERS) -> LogFilterSet:
    """A valid filterset, or a 400 whose body names each wrong parameter."""
    filterset = LogFilterSet(data, scope=scope, extra_parameters=extra_parameters)
    if not filterset.is_valid():
        raise ValidationError(
            {name: [str(message) for message in messages] for name, messages in filterset.form.errors.items()}
        )
    return filterset


DAY_EXAMPLE = OpenApiExample("A day", "2023-08-27")
USER_ID = {"type": "integer", "minimum": 0, "maximum": MAX_USER_ID}
KEYWORD = {"type": "string", "maxLength": MAX_KEYWORD_LENGTH, "pattern": NO_NUL_PATTERN}
KEYWORD_PARAMETER = OpenApiParameter("keyword", KEYWORD, description="Case-insensitive text in the message, literal.")
TIME_RANGE_RULES = (
    f"`date` or `from`/`to`, not both; `from` before `to`; at most {settings.SEARCH_MAX_SPAN_DAYS} days; "
    f"{OUT_OF_RANGE} Each is a 400 naming the parameter."
)


def filter_parameters() -> list[OpenApiParameter]:
    """The filterset's parameters (LogFilterSet parses and checks them), documented in the OpenAPI schema."""
    return [
        OpenApiParameter(
            "user_id",
            {"type": "array", "items": USER_ID, "maxItems": MAX_USER_IDS},
            description=f"One or several (at most {MAX_USER_IDS}): user_id=1&user_id=4, or comma-separated 1,4.",
            examples=[OpenApiExample("A user", [4])],
            style="form",
            explode=True,
        ),
        OpenApiParameter(
            "date", OpenApiTypes.DATE, description=f"A whole UTC day. {TIME_RANGE_RULES}", examples=[DAY_EXAMPLE]
        ),
        OpenApiParameter(
            "from",
            OpenApiTypes.DATETIME,
            description="Start, inclusive; UTC unless an offset is given. Alone: the "
            f"{settings.SEARCH_DEFAULT_SPAN_HOURS} hours after it. {TIME_RANGE_RULES}",
        ),
        OpenApiParameter(
            "to",
            OpenApiTypes.DATETIME,
            description="End, exclusive; UTC unless an offset is given. Alone: the "
            f"{settings.SEARCH_DEFAULT_SPAN_HOURS} hours before it. Without date/from/to: the last "
            f"{settings.SEARCH_DEFAULT_SPAN_HOURS} hours.",
        ),
        OpenApiParameter(
            "level",
            str,
            many=True,
            enum=Level.values,
            description="One or several: level=error&level=critical, or comma-separated error,critical. With "
            "`min_level`: those at or above it (a 400 naming `level` when none is).",
            examples=[OpenApiExample("Errors", ["error"])],
            style="form",
            explode=True,
        ),
        OpenApiParameter("min_level", str, enum=Level.values, description="That level and the more severe ones."),
        KEYWORD_PARAMETER,
        OpenApiParameter("order", str, enum=["newest", "oldest"], description="Default newest."),
        OpenApiParameter(
            "page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}, description="Default 100."
        ),
        OpenApiParameter(
            "cursor",
            {"type": "string", "maxLength": 1000, "pattern": NO_NUL_PATTERN},
            description="The `next_cursor` of the previous page of the same search and order; any other "
            "value is a 400 naming `cursor`.",
        ),
    ]


class FilterSetSchema(AutoSchema):
    """LogFilterSet reads an empty query parameter (`date=`, as the search page's form sends) as not given."""

    def get_operation(
        self, path: str, path_regex: str, path_prefix: str, method: str, registry: ComponentRegistry
    ) -> dict | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        for parameter in (operation or {}).get("parameters", []):
            if parameter["in"] == OpenApiParameter.QUERY:
                parameter["allowEmptyValue"] = True
        return operation


ERRORS = OpenApiResponse(ERRORS_SCHEMA, description="Names each invalid parameter with its messages.")
UNAUTHORIZED = OpenApiResponse(
    DetailSerializer, description="No token and no session, or an unknown, expired or revoked token."
)
FORBIDDEN = OpenApiResponse(
    ERRORS_SCHEMA,
    description="`user_id` names user ids not granted to you (named in the message), or the token lacks the "
    "`logs:read` scope (`detail`).",
)
THROTTLED = OpenApiResponse(
    DetailSerializer, description="Over the token's (or user's) rate: wait the seconds in `Retry-After`."
)
BUSY = OpenApiResponse(
    DetailSerializer, description="This server runs as many searches as it takes: ask again after `Retry-After`."
)


class LogsAPIView(APIView):
    # Token first, so that a missing or wrong token is a 401 with WWW-Authenticate: Token.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    # A token reads only with logs:read and writes only with logs:write (access.tokens).
    permission_classes = [IsAuthenticated, TokenScopes]
    schema = FilterSetSchema()
    # HTTP method -> the THROTTLE_RATES scope its requests count against.
    throttle_scopes: dict[str, str] = {}

    def get_throttles(self) -> list[BaseThrottle]:
        scope = self.throttle_scopes.get(self.request.method or "")
        return [ScopeThrottle(scope)] if scope else []

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        # Whole seconds, at least 1: DRF would write a wait under a second as "Retry-After: 0".
        raise Throttled(wait=max(1, math.ceil(wait or 1)))


class LogSearchView(LogsAPIView):
    """GET searches logs (the same parameters and meaning as the search page); POST sends logs."""

    throttle_scopes = {"GET": "search", "POST": "ingest"}

    @extend_schema(
        parameters=filter_parameters(),
        responses={
            200: SearchPageSerializer,
            400: ERRORS,
            401: UNAUTHORIZED,
            403: FORBIDDEN,
            429: THROTTLED,
            503: BUSY,
        },
        description="Search logs: the same parameters and meaning as the search page.",
    )
    @search_capacity
    def get(self, request: Request) -> Response:
        filterset = parse(request.query_params, read_scope(request))
        query = filterset.log_query()
        audit.record(AuditEvent.Action.SEARCH, request, {"door": "api", **query.to_params()})
        page = planner.search(query, filterset.cursor_token)
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
                "sources": shown(page.sources, is_staff(request.user), "search"),
                "partial": page.partial,
            }
        )

    @extend_schema(
        # JSON is what the schema can describe; NDJSON and gzip are in the description.
        request={"application/json": LogBatchSerializer},
        responses={
            201: IngestResultSerializer,
            400: OpenApiResponse(
                ERRORS_SCHEMA,
                description="Names each invalid field as `logs[i].field` (also: the same `id` twice in the "
                "batch) or `body`; nothing is written.",
            ),
            401: UNAUTHORIZED,
            403: OpenApiResponse(
                ERRORS_SCHEMA,
                description="Names each record whose user_id you may not write as `logs[i].user_id` (or, as "
                "`detail`, a token without the `logs:write` scope); nothing is written.",
            ),
            413: OpenApiResponse(
                ERRORS_SCHEMA,
                description=f"Body larger than {MAX_BODY_BYTES // 2**20} MB (after gzip inflation), named `body`: "
                "split the batch.",
            ),
            415: OpenApiResponse(ERRORS_SCHEMA, description="Neither JSON nor NDJSON, or an encoding other than gzip."),
            429: THROTTLED,
            503: OpenApiResponse(
                DetailSerializer, description="Storage did not confirm the write; send the same batch again."
            ),
        },
        description=(
            f"Send up to {MAX_RECORDS:,} logs. A record without `id` gets one derived from its content, so a "
            "re-sent batch stores nothing twice: ids already stored are counted as `duplicates`. The body may "
            "also be NDJSON (`Content-Type: application/x-ndjson`, one record a line; `logs[i]` in errors is "
            f"the i-th record, from 0), gzip-compressed (`Content-Encoding: gzip`; at most {MAX_BODY_BYTES // 2**20} "
            "MB inflated) and "
            "chunked."
        ),
        examples=[
            OpenApiExample(
                "One log",
                {
                    "logs": [
                        {"timestamp": "2023-08-27T12:30:00Z", "user_id": 4, "level": "error", "message": "Recall: 0.27"}
                    ]
                },
                request_only=True,
            )
        ],
    )
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
        except IngestError as exc:
            raise ValidationError(exc.errors) from exc
        except IngestUnavailable as exc:
            return Response({"detail": str(exc)}, status=503)
        return Response({"inserted": result.inserted, "duplicates": result.duplicates, "ids": result.ids}, status=201)


class SeedLogsView(LogsAPIView):
    """The Flask seed app's route, kept for its clients: a JSON list of
    {date, log_level, user_id, log_message}, oldest first; 400 on bad input, 404 when
    nothing matches. Unlike the seed, it needs a login or an API token."""

    throttle_scopes = {"GET": "search"}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "day", OpenApiTypes.DATE, OpenApiParameter.PATH, description="A UTC day.", examples=[DAY_EXAMPLE]
            ),
            OpenApiParameter("user_id", USER_ID, OpenApiParameter.PATH, examples=[OpenApiExample("A user", 4)]),
            OpenApiParameter(
                "level", str, OpenApiParameter.PATH, enum=Level.values, examples=[OpenApiExample("Errors", "error")]
            ),
            KEYWORD_PARAMETER,
        ],
        responses={
            200: SeedLogSerializer(many=True),
            400: OpenApiResponse(
                ERRORS_SCHEMA, description=f"Names each invalid parameter (`day` as `date`). {OUT_OF_RANGE}"
            ),
            401: UNAUTHORIZED,
            403: FORBIDDEN,
            404: OpenApiResponse(DetailSerializer, description="No logs found."),
            429: THROTTLED,
            503: OpenApiResponse(
                DetailSerializer, description="A storage could not answer, or the server is busy; ask again later."
            ),
        },
    )
    @search_capacity
    def get(self, request: Request, day: str, user_id: str, level: str) -> Response | StreamingHttpResponse:
        unknown = set(request.query_params) - {"keyword", *API_PARAMETERS}
        if unknown:
            raise ValidationError({name[:50]: ["Unknown parameter."] for name in sorted(unknown)})
        data = request.query_params.copy()
        data.update({"date": day, "user_id": user_id, "level": level, "order": "oldest"})
        filterset = parse(data, read_scope(request))
        query = filterset.log_query()
        audit.record(AuditEvent.Action.SEARCH, request, {"door": "seed", **query.to_params()})
        rows = planner.iter_all(query)
        try:
            first = next(rows, None)
        except SourceUnavailable as exc:
            return Response({"detail": shown_error(str(exc), is_staff(request.user), "search")}, status=503)
        if first is None:
            return Response({"detail": "No logs found."}, status=404)
        return StreamingHttpResponse(json_array(chain([first], rows)), content_type="application/json")


def json_array(rows: Iterable) -> Iterator[str]:
    """Stream a JSON list without holding it in memory."""
    yield "["
    for index, row in enumerate(rows):
        yield ("," if index else "") + json.dumps(seed_record(row))
    yield "]"
