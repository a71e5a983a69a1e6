"""The JSON API's OpenAPI declarations (drf-spectacular), beside its serializers: the parameters the
filterset reads, the answers besides 200, and each operation's `extend_schema` arguments. The views
(`api.views`, `api.logs`) only apply them; every rule a view enforces is stated here or in a serializer.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ComponentRegistry
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from api.serializers import (
    ERRORS_SCHEMA,
    MAX_AROUND,
    NO_NUL_PATTERN,
    DetailSerializer,
    IngestResultSerializer,
    LogBatchSerializer,
    LogContextSerializer,
    LogRowSerializer,
    SearchPageSerializer,
    SeedLogSerializer,
    TailPageSerializer,
)
from intake.bodies import MAX_BODY_BYTES
from intake.ingest import MAX_RECORDS
from retrieval import livetail, planner
from retrieval.filters import MAX_USER_ID, MAX_USER_IDS, OUT_OF_RANGE
from retrieval.models import Level
from retrieval.query import EARLIEST, LATEST, MAX_KEYWORD_LENGTH, MAX_PAGE_SIZE
from retrieval.querysyntax import MAX_QUERY_LENGTH

DAY_EXAMPLE = OpenApiExample("A day", "2023-08-27")
# What LogFilterSet's `date` takes (retrieval.filters: a day, or a relative time such as `from` takes).
DAY_PATTERN = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}|today|yesterday|now([+-][0-9]{1,6}[smhdw])*(/[smhdw])?)$"
# A real day (`format: date`) in the range a search covers (retrieval.query.EARLIEST to LATEST, 1970 to 9998).
SEED_DAY_PATTERN = (
    r"^(19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
)
USER_ID = {"type": "integer", "minimum": 0, "maximum": MAX_USER_ID}
KEYWORD = {"type": "string", "maxLength": MAX_KEYWORD_LENGTH, "pattern": NO_NUL_PATTERN}
KEYWORD_PARAMETER = OpenApiParameter("keyword", KEYWORD, description="Case-insensitive text in the message, literal.")
TIME_EXPRESSION = {"type": "string", "maxLength": 100, "pattern": NO_NUL_PATTERN}
TIME_EXPRESSIONS = (
    "ISO 8601 (UTC unless an offset is given; a date alone is its midnight), or relative to the time of the "
    "request as in Grafana: `now`, `now-15m`, `now-6h`, `now-2d`, `now/d` (midnight today), `now-2d/d` (units "
    "s m h d w; `/unit` rounds down to the start of that unit, UTC), `today`, `yesterday` (their midnights)."
)
QUERY_SYNTAX = (
    "Query syntax, the same meaning in MongoDB and in the archive; terms separated by spaces, all must hold. "
    '`word`: the message contains it (case-insensitive, literal, as `keyword`); `"exact phrase"`; '
    '`logger:name` (exact; `logger:"a b"`); `level:error`; `user_id:4`; `model:name` (`context.model`, else the logger); `context.<key>:value` (the context\'s '
    "key, dots for nested keys, keys of letters, digits, `_` and `-`; equal as text, and as a number when the "
    'value is one: `context.epoch:3` finds 3, 3.0 and "3"; a list matches when an item does); `-` before any '
    'term leaves its logs out (`-word`, `-"a phrase"`, `-user_id:4`; a missing field counts as not equal). '
    "`Recall<0.5`: the log's metric compares so with the number (`<`, `<=`, `>`, `>=`, `=`, `!=`; a finite "
    "decimal such as `0.5`, `-2`, `1e-3`; `=` is exact); a log without the metric never matches, so "
    "`-Recall<0.5` keeps it. A name in the admin's metric list matches in any case (`recall<0.5`), another "
    "as stored; names are letters, digits, `_`, `-` and `/`. An unquoted word with `<`, `>` or `=` that is "
    "not such a comparison is refused. "
    "Bad syntax is a 400 naming `q` and the 1-based character position."
)
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
        # No example: Swagger UI fills in every parameter's first example, and a day beside from/to is a 400.
        OpenApiParameter(
            "date",
            {"type": "string", "pattern": DAY_PATTERN},
            description="A whole UTC day: `2023-08-27` (a real date), or the day holding a relative time as `from` takes it: "
            f"`today`, `yesterday`, `now-2d/d`. {TIME_RANGE_RULES}",
        ),
        OpenApiParameter(
            "from",
            TIME_EXPRESSION,
            description="Start, inclusive. Alone: the "
            f"{settings.SEARCH_DEFAULT_SPAN_HOURS} hours after it. {TIME_EXPRESSIONS} {TIME_RANGE_RULES}",
            examples=[OpenApiExample("Six hours ago", "now-6h"), OpenApiExample("A moment", "2023-08-27T12:30:00Z")],
        ),
        OpenApiParameter(
            "to",
            TIME_EXPRESSION,
            description="End, exclusive. Alone: the "
            f"{settings.SEARCH_DEFAULT_SPAN_HOURS} hours before it. Without date/from/to: the last "
            f"{settings.SEARCH_DEFAULT_SPAN_HOURS} hours. {TIME_EXPRESSIONS}",
            examples=[OpenApiExample("Now", "now"), OpenApiExample("Midnight today", "now/d")],
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
        OpenApiParameter(
            "q",
            {"type": "string", "maxLength": MAX_QUERY_LENGTH, "pattern": NO_NUL_PATTERN},
            description=QUERY_SYNTAX,
            examples=[OpenApiExample("Errors of a run, not timeouts", 'context.run:7 -"timed out" level:error')],
        ),
        OpenApiParameter("order", str, enum=["newest", "oldest"], description="Default newest."),
        OpenApiParameter(
            "page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}, description="Default 100."
        ),
        OpenApiParameter(
            "cursor",
            {"type": "string", "maxLength": 1000, "pattern": NO_NUL_PATTERN},
            description="The `next_cursor` (page after) or `prev_cursor` (page before) of a page of the same "
            "search and order; any other value is a 400 naming `cursor`. A relative range (`from=now-6h`) keeps "
            "on later pages the range of the page the cursor came from.",
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


LOG_ID = OpenApiParameter(
    "id", {"type": "string", "pattern": "^[0-9a-fA-F]{24}$"}, OpenApiParameter.PATH, description="The log's id."
)
NOT_FOUND = OpenApiResponse(DetailSerializer, description="No log with this id that you may read.")
UNAVAILABLE = OpenApiResponse(DetailSerializer, description="A storage could not answer; ask again later.")
# The answers of the one-log endpoints besides 200.
ONE_LOG_ERRORS = {
    400: ERRORS,
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    429: THROTTLED,
    503: UNAVAILABLE,
}


# GET /api/v1/logs
SEARCH: dict[str, Any] = {
    "parameters": filter_parameters(),
    "responses": {
        200: SearchPageSerializer,
        400: ERRORS,
        401: UNAUTHORIZED,
        403: FORBIDDEN,
        429: THROTTLED,
        503: BUSY,
    },
    "description": "Search logs: the same parameters and meaning as the search page.",
}

# POST /api/v1/logs
INGEST: dict[str, Any] = {
    # JSON is what the schema can describe; NDJSON and gzip are in the description.
    "request": {"application/json": LogBatchSerializer},
    "responses": {
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
            description=f"Body larger than {MAX_BODY_BYTES // 2**20} MB (after gzip inflation), named `body`, "
            f"or more than {MAX_RECORDS:,} records, named `logs`: split the batch.",
        ),
        411: OpenApiResponse(
            ERRORS_SCHEMA,
            description="A chunked body that this server cannot de-chunk (Django's development server), "
            "named `body`: send Content-Length.",
        ),
        415: OpenApiResponse(ERRORS_SCHEMA, description="Neither JSON nor NDJSON, or an encoding other than gzip."),
        429: THROTTLED,
        503: OpenApiResponse(
            DetailSerializer, description="Storage did not confirm the write; send the same batch again."
        ),
    },
    "description": (
        f"Send up to {MAX_RECORDS:,} logs. A record without `id` gets one derived from its content, so a "
        "re-sent batch stores nothing twice: ids already stored are counted as `duplicates`. The body may "
        "also be NDJSON (`Content-Type: application/x-ndjson`, one record a line; `logs[i]` in errors is "
        f"the i-th record, from 0), gzip-compressed (`Content-Encoding: gzip`; at most {MAX_BODY_BYTES // 2**20} "
        "MB inflated) and "
        "chunked (under gunicorn; a server that cannot de-chunk answers 411)."
    ),
    "examples": [
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
}

# GET /logs/date/<day>/user/<user_id>/level/<level> (the seed route)
SEED: dict[str, Any] = {
    "parameters": [
        OpenApiParameter(
            "day",
            {"type": "string", "format": "date", "pattern": SEED_DAY_PATTERN},
            OpenApiParameter.PATH,
            description=f"A UTC day from {EARLIEST:%Y-%m-%d} to {LATEST - timedelta(days=1):%Y-%m-%d}.",
            examples=[DAY_EXAMPLE],
        ),
        OpenApiParameter("user_id", USER_ID, OpenApiParameter.PATH, examples=[OpenApiExample("A user", 4)]),
        OpenApiParameter(
            "level", str, OpenApiParameter.PATH, enum=Level.values, examples=[OpenApiExample("Errors", "error")]
        ),
        KEYWORD_PARAMETER,
    ],
    "responses": {
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
}

# GET /api/v1/logs/<id>
DETAIL: dict[str, Any] = {
    "parameters": [LOG_ID],
    # drf-spectacular would name it api_v1_logs_retrieve, as GET /api/v1/logs is named.
    "operation_id": "api_v1_log_retrieve",
    "responses": {200: LogRowSerializer, **ONE_LOG_ERRORS},
    "description": "One log, hot or archived, with every field. Found from the time in its id (the hour "
    "either side): ids that ingest made, or BSON ObjectIds made when the log was written, carry it.",
}

# GET /api/v1/logs/<id>/context
CONTEXT: dict[str, Any] = {
    "parameters": [
        LOG_ID,
        OpenApiParameter("before", {"type": "integer", "minimum": 0, "maximum": MAX_AROUND}, description="Default 50."),
        OpenApiParameter("after", {"type": "integer", "minimum": 0, "maximum": MAX_AROUND}, description="Default 50."),
    ],
    "responses": {200: LogContextSerializer, **ONE_LOG_ERRORS},
    "description": f"The `before` logs before this one and the `after` logs after it (0 to {MAX_AROUND} each) of "
    f"the same user_id, at every level, hot and archived, within {planner.AROUND_SPAN.days} days of it.",
}

# GET /api/v1/logs/tail
TAIL: dict[str, Any] = {
    "parameters": [
        *(parameter for parameter in filter_parameters() if parameter.name not in ("cursor", "order")),
        OpenApiParameter(
            "after",
            {"type": "string", "maxLength": 3000, "pattern": NO_NUL_PATTERN},
            description="The `cursor` of the previous poll; without it, the newest `page_size` logs of the "
            "search. Any other value is a 400 naming `after`.",
        ),
    ],
    "responses": {200: TailPageSerializer, 400: ERRORS, 401: UNAUTHORIZED, 403: FORBIDDEN, 429: THROTTLED},
    "description": "A live tail, polled: the logs of the search (same filters) that arrived since `after`, oldest "
    "first, at most `page_size`, each sent once, and the cursor for the next poll. The time range must run to "
    "now or later (no `to`, `to=now`, today's `date`): a range that ended is a 400 naming `date`, `to` or "
    "`from`; a range that runs to now follows the clock, a later end is kept. Poll every `poll_seconds` (also "
    "sent as `Retry-After`); at once when the page was full (`page_size` logs). Only MongoDB is read: new logs "
    "arrive there, the archive holds day-old ones. A log "
    f"stamped up to {livetail.TAIL_OVERLAP.seconds} s before the newest one sent is still sent (when fewer "
    f"than {livetail.TAIL_MAX_SEEN} logs were sent in that window); an older late log is not.",
}
