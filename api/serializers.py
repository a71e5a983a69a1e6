"""The JSON API's bodies and query parameters, as the OpenAPI schema declares them (`api.schema` uses them).

The serializers of answers only declare the schema (drf-spectacular): rows are written by
`doors.door.row_record` / `seed_record`, and what a sent log may hold is checked by `intake.ingest`,
whose limits they import. `OnlyParameters` and `ContextParameters` also check a request's parameters.
"""

from typing import Any, ClassVar

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from doors.door import row_record
from intake.ingest import MAX_LOGGER_LENGTH, MAX_MESSAGE_LENGTH, MAX_RECORDS
from intake.values import MAX_CONTEXT_DEPTH, MAX_CONTEXT_KEYS, MAX_CONTEXT_LIST_ITEMS
from retrieval.filters import MAX_USER_ID
from retrieval.models import Level
from retrieval.query import LogRow

# Text the API refuses: NUL characters (MongoDB and the search form reject them).
NO_NUL_PATTERN = r"^[^\u0000]*$"
STORED_ID_PATTERN = r"^[0-9a-f]{24}$"  # str(ObjectId)
# DRF's own parameter, allowed beside the filters.
API_PARAMETERS = ("format",)
# The most logs GET /api/v1/logs/<id>/context gives on either side.
MAX_AROUND = 200


class SchemaSerializer(serializers.Serializer):
    """A serializer whose schema adds `schema_extra`: what DRF fields cannot declare (see RefinedSchema)."""

    # Merged into the component: top-level keys replace, "properties" are merged per property.
    schema_extra: ClassVar[dict[str, Any]] = {}


class RefinedSchema(OpenApiSerializerExtension):
    target_class = SchemaSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        extra = dict(self.target.schema_extra)
        for name, addition in extra.pop("properties", {}).items():
            schema["properties"][name].update(addition)
        return {**schema, **extra}


class LogRowSerializer(serializers.Serializer):
    """Declares the fields for the OpenAPI schema; the values come from `row_record`."""

    id = serializers.RegexField(STORED_ID_PATTERN, help_text="MongoDB ObjectId, hex")
    timestamp = serializers.DateTimeField(help_text="UTC, ISO 8601, microseconds")
    user_id = serializers.IntegerField(min_value=0, max_value=MAX_USER_ID)
    level = serializers.ChoiceField(choices=Level.values)
    message = serializers.CharField()
    logger = serializers.CharField(allow_blank=True)
    # DRF's stubs type Field.context and Field.source; here they are fields of the row.
    context = serializers.DictField(allow_null=True)  # type: ignore[assignment]
    source = serializers.ChoiceField(choices=["hot", "cold"], help_text="where the row was read")  # type: ignore[assignment]
    metrics = serializers.DictField(
        child=serializers.FloatField(),
        allow_null=True,
        help_text="the model metrics extracted from the log at intake (name -> value; null: none), "
        "searchable as `q=Recall<0.5`",
    )

    def to_representation(self, instance: LogRow) -> dict:
        return row_record(instance)


class SearchPageSerializer(serializers.Serializer):
    results = LogRowSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="pass as `cursor` for the next page")
    next = serializers.URLField(allow_null=True, help_text="URL of the next page")
    sources = serializers.DictField(
        child=serializers.CharField(), help_text='"ok", or "unavailable" (for staff "unavailable: <why>")'
    )
    partial = serializers.BooleanField(help_text="true when a source could not answer")  # type: ignore[assignment]
    prev_cursor = serializers.CharField(
        allow_null=True, help_text="pass as `cursor` for the page before; null on the first"
    )
    previous = serializers.URLField(allow_null=True, help_text="URL of the page before")
    offset = serializers.IntegerField(min_value=1, help_text="1-based position of the first result in the search")


class LogContextSerializer(serializers.Serializer):
    log = LogRowSerializer()
    before = LogRowSerializer(many=True, help_text="the same user's logs just before it, oldest first")
    after = LogRowSerializer(many=True, help_text="the same user's logs just after it, oldest first")
    sources = serializers.DictField(child=serializers.CharField())
    partial = serializers.BooleanField(help_text="true when a source could not answer")  # type: ignore[assignment]


class TailPageSerializer(serializers.Serializer):
    results = LogRowSerializer(many=True, help_text="new logs, oldest first")
    cursor = serializers.CharField(help_text="pass as `after` to the next poll")
    poll_seconds = serializers.IntegerField(min_value=1, help_text="wait this long before the next poll")
    sources = serializers.DictField(child=serializers.CharField())
    partial = serializers.BooleanField(help_text="true when MongoDB could not answer: poll again, same cursor")  # type: ignore[assignment]


class SeedLogSerializer(serializers.Serializer):
    date = serializers.DateTimeField(help_text="UTC, ISO 8601, microseconds")
    log_level = serializers.ChoiceField(choices=Level.values)
    user_id = serializers.IntegerField(min_value=0, max_value=MAX_USER_ID)
    log_message = serializers.CharField()


class LogRecordSerializer(SchemaSerializer):
    """One log sent to POST /api/v1/logs (checked by `intake.ingest.validate_record`)."""

    id = serializers.RegexField(
        r"^[0-9a-fA-F]{24}$",
        required=False,
        help_text="24 hex digits (e.g. a BSON ObjectId); without it, an id derived from the content.",
    )
    timestamp = serializers.DateTimeField(
        help_text="ISO 8601 with a time zone; from 2000-01-01 to a day from now (else a 400 naming it)."
    )
    user_id = serializers.IntegerField(min_value=0, max_value=MAX_USER_ID)
    level = serializers.ChoiceField(choices=Level.values, help_text="Case-insensitive.")
    message = serializers.CharField(max_length=MAX_MESSAGE_LENGTH)
    logger = serializers.CharField(required=False, allow_blank=True, max_length=MAX_LOGGER_LENGTH)
    context = serializers.DictField(  # type: ignore[assignment]  # a field, not Field.context
        required=False,
        allow_null=True,
        help_text=(
            f"JSON object, nested at most {MAX_CONTEXT_DEPTH} deep, at most {MAX_CONTEXT_KEYS} keys per object and "
            f"{MAX_CONTEXT_LIST_ITEMS} items per list; keys may not be empty, start with $ or contain dots or NUL; "
            "no text holds NUL; integers fit in 64 bits "
            "(else a 400 naming it)."
        ),
    )
    schema_extra: ClassVar[dict[str, Any]] = {
        "additionalProperties": False,  # an unknown field is a 400 naming it
        "properties": {
            "message": {"minLength": 1, "pattern": NO_NUL_PATTERN},  # DRF declares it only with COMPONENT_SPLIT_REQUEST
            "logger": {"pattern": NO_NUL_PATTERN},
            "context": {"maxProperties": MAX_CONTEXT_KEYS},
        },
    }


class LogBatchSerializer(SchemaSerializer):
    """The body of POST /api/v1/logs."""

    logs = LogRecordSerializer(many=True)
    schema_extra: ClassVar[dict[str, Any]] = {"properties": {"logs": {"minItems": 1, "maxItems": MAX_RECORDS}}}


class IngestResultSerializer(serializers.Serializer):
    inserted = serializers.IntegerField(min_value=0, help_text="records stored now")
    duplicates = serializers.IntegerField(min_value=0, help_text="records whose id was already stored")
    ids = serializers.ListField(
        child=serializers.RegexField(STORED_ID_PATTERN), help_text="every record's id, in the order sent"
    )


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


# A 400 (and 413) body: each wrong parameter or field (`date`, `logs[3].level`, `body`) with its
# messages; a body that is not JSON is DRF's `{"detail": "JSON parse error - ..."}`.
ERRORS_SCHEMA = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]},
}


class OnlyParameters(serializers.Serializer):
    """Query parameters of an endpoint that takes no filters: unknown ones are a 400 naming them."""

    def validate(self, attrs: dict) -> dict:
        unknown = set(self.initial_data) - set(self.fields) - set(API_PARAMETERS)
        if unknown:
            raise ValidationError({name[:50]: ["Unknown parameter."] for name in sorted(unknown)})
        return attrs


class ContextParameters(OnlyParameters):
    before = serializers.IntegerField(min_value=0, max_value=MAX_AROUND, default=50)
    after = serializers.IntegerField(min_value=0, max_value=MAX_AROUND, default=50)
