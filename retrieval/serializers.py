"""The JSON shape of a log row: one definition for the API, JSON Lines exports and the seed route."""

from rest_framework import serializers

from retrieval.query import LogRow, isoformat


def row_record(row: LogRow) -> dict:
    return {
        "id": row.id,
        "timestamp": isoformat(row.timestamp),
        "user_id": row.user_id,
        "level": row.level,
        "message": row.message,
        "logger": row.logger,
        "context": row.context,
        "source": row.source,
    }


def seed_record(row: LogRow) -> dict:
    """The Flask seed app's field names, for its existing clients."""
    return {
        "date": isoformat(row.timestamp),
        "log_level": row.level,
        "user_id": row.user_id,
        "log_message": row.message,
    }


class LogRowSerializer(serializers.Serializer):
    """Declares the fields for the OpenAPI schema; the values come from `row_record`."""

    id = serializers.CharField(help_text="MongoDB ObjectId, hex")
    timestamp = serializers.DateTimeField(help_text="UTC, ISO 8601, microseconds")
    user_id = serializers.IntegerField()
    level = serializers.ChoiceField(choices=["debug", "info", "warning", "error", "critical"])
    message = serializers.CharField()
    logger = serializers.CharField()
    context = serializers.JSONField(allow_null=True)
    source = serializers.ChoiceField(choices=["hot", "cold"], help_text="where the row was read")

    def to_representation(self, instance: LogRow) -> dict:
        return row_record(instance)


class SearchPageSerializer(serializers.Serializer):
    results = LogRowSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="pass as `cursor` for the next page")
    next = serializers.CharField(allow_null=True, help_text="URL of the next page")
    sources = serializers.DictField(child=serializers.CharField(), help_text='"ok" or "unavailable: <why>"')
    partial = serializers.BooleanField(help_text="true when a source could not answer")


class SeedLogSerializer(serializers.Serializer):
    date = serializers.CharField()
    log_level = serializers.CharField()
    user_id = serializers.IntegerField()
    log_message = serializers.CharField()
