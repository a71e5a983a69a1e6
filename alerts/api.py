"""GET/POST /api/v1/alerts/rules (the caller's rules) and GET /api/v1/alerts (alerts of granted user_ids).

Grants, tokens, throttles and audit are the logs API's (`LogsAPIView`, `read_scope`, `audit.record`); what a
caller may see is alerts.listing's, what a valid rule is `Rule.clean`'s.
"""

from typing import Any, ClassVar, cast

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from access import audit
from access.models import AuditEvent
from access.scope import OutsideScope, read_scope
from alerts import listing, notify
from alerts.models import MAX_WINDOW_MINUTES, MIN_WINDOW_MINUTES, Alert, Rule
from api.schema import ERRORS, FORBIDDEN, THROTTLED, UNAUTHORIZED, FilterSetSchema
from api.serializers import NO_NUL_PATTERN, SchemaSerializer
from doors.apiview import LogsAPIView
from metrics.api import USER_PARAMETER
from retrieval.filters import MAX_USER_ID, MAX_USER_IDS, IntegerListField

MAX_ALERTS = 500


# The JSON type of each field a rule is sent with: DRF would take "1" for 1 or 0 for "0", which the schema does not.
JSON_TYPES: dict[str, tuple[type, ...]] = {
    **{name: (str,) for name in ("name", "kind", "metric", "aggregate", "comparison", "model", "email", "webhook_url")},
    "threshold": (int, float),
    "window_minutes": (int,),
    "user_ids": (list,),
    "enabled": (bool,),
}
TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", list: "a list", bool: "true or false"}


def wrong_types(data: object) -> dict[str, list[str]]:
    """Each field of `data` (a JSON object) of another JSON type than JSON_TYPES says, or unknown."""
    if not isinstance(data, dict):
        return {"body": ["A JSON object."]}
    errors = {}
    for name, value in data.items():
        wanted = JSON_TYPES.get(name)
        if wanted is None:
            errors[str(name)[:50]] = ["Unknown field."]
        elif not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
            errors[name] = [f"Must be {TYPE_NAMES[wanted[-1]]}."]
    return errors


class RuleSerializer(serializers.ModelSerializer, SchemaSerializer):
    user_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=MAX_USER_ID),
        max_length=MAX_USER_IDS,
        required=False,
        help_text=Rule._meta.get_field("user_ids").help_text,
    )

    class Meta:
        model = Rule
        fields = [
            "id",
            "name",
            "kind",
            "metric",
            "aggregate",
            "comparison",
            "threshold",
            "window_minutes",
            "user_ids",
            "model",
            "email",
            "webhook_url",
            "enabled",
            "created",
        ]
        read_only_fields = ["id", "created"]
        extra_kwargs = {
            "window_minutes": {"min_value": MIN_WINDOW_MINUTES, "max_value": MAX_WINDOW_MINUTES},
            # What the schema says (minLength 1), not DRF's default trimming of a name of spaces into a 400.
            "name": {"min_length": 1, "trim_whitespace": False},
        }

    schema_extra: ClassVar[dict[str, Any]] = {
        "additionalProperties": False,  # an unknown field is a 400 naming it
        "properties": {
            name: {"pattern": NO_NUL_PATTERN} for name in ("name", "metric", "model", "email", "webhook_url")
        },
    }

    def to_internal_value(self, data: Any) -> Any:
        if errors := wrong_types(data):
            raise ValidationError(errors)
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        rule = Rule(**attrs)
        try:
            rule.clean()
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return attrs


def flat_errors(errors: dict[str, Any]) -> dict[str, list[str]]:
    """Each field's messages as a list of text (a list field's are by index: `user_ids`: ["[0] ..."])."""
    flat: dict[str, list[str]] = {}
    for name, messages in errors.items():
        if isinstance(messages, dict):
            flat[name] = [f"[{index}] {message}" for index, items in messages.items() for message in items]
        else:
            flat[name] = [str(message) for message in messages]
    return flat


class CreatedRuleSerializer(RuleSerializer):
    secret = serializers.CharField(read_only=True, help_text="Key of the webhook's signature; shown only here.")

    class Meta(RuleSerializer.Meta):
        fields = [*RuleSerializer.Meta.fields, "secret"]


class AlertSerializer(serializers.ModelSerializer):
    rule = serializers.CharField(source="rule.name")
    rule_id = serializers.IntegerField()
    state = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = ["id", "rule_id", "rule", "user_id", "model", "state", "fired_at", "resolved_at", "value", "links"]

    def get_state(self, alert: Alert) -> str:
        return "firing" if alert.firing else "resolved"

    def get_links(self, alert: Alert) -> dict[str, str]:
        return notify.links(alert, alert.resolved_at or alert.window_end)


class AlertsForm(forms.Form):
    user_id = IntegerListField(required=False)
    state = forms.ChoiceField(choices=[("", "all"), *[(s, s) for s in listing.STATES]], required=False)
    limit = forms.IntegerField(min_value=1, max_value=MAX_ALERTS, required=False)


def parse(request: Request, form_class: type[forms.Form] = AlertsForm) -> dict[str, Any]:
    """The valid parameters, or a 400 naming each wrong or unknown one."""
    form = form_class(request.query_params)
    unknown = sorted(set(request.query_params) - set(form.fields) - {"format"})
    if not form.is_valid() or unknown:
        errors = {name: [str(m) for m in messages] for name, messages in form.errors.items()}
        for name in unknown:
            errors[name[:50]] = ["Unknown parameter."]
        raise ValidationError(errors)
    return form.cleaned_data


class RulesForm(forms.Form):
    user_id = IntegerListField(required=False)


class RulesView(LogsAPIView):
    """The caller's alert rules; POST makes one (its user_ids must be granted to the caller)."""

    throttle_scopes = {"GET": "search", "POST": "search"}
    parser_classes = [JSONParser]
    schema = FilterSetSchema()  # an empty parameter (as a form sends) is not given, as in the logs API

    @extend_schema(
        parameters=[USER_PARAMETER],
        responses={200: RuleSerializer(many=True), 400: ERRORS, 401: UNAUTHORIZED, 403: FORBIDDEN, 429: THROTTLED},
        description="Your alert rules; with `user_id`, those naming one of them (each must be granted to you).",
    )
    def get(self, request: Request) -> Response:
        data = parse(request, RulesForm)
        rules = listing.own_rules(cast(User, request.user).pk, read_scope(request), data["user_id"])
        return Response(RuleSerializer(rules, many=True).data)

    @extend_schema(
        request=RuleSerializer,
        responses={201: CreatedRuleSerializer, 400: ERRORS, 401: UNAUTHORIZED, 403: FORBIDDEN, 429: THROTTLED},
        description="Make an alert rule. Kinds: `threshold` (the metric's `aggregate` over the window "
        "`above`/`below` `threshold`), `drop` (the window's mean fell by `threshold` percent or more against the "
        "window before), `errors` (error and critical logs of a user_id in the window above `threshold`). "
        "`user_ids` must be granted to you (403 naming them); empty: every user_id granted to you when the rule "
        "is evaluated. The answer holds the webhook's `secret`, shown only here. Rules a 400 names the field "
        "of: a threshold or drop rule needs a `metric`, an errors rule has neither `metric` nor `model`; a drop's "
        "`threshold` is a percent above 0, at most 100; an errors rule's is 0 or more; `webhook_url` is http(s); "
        "text holds no NUL characters.",
    )
    def post(self, request: Request) -> Response:
        serializer = RuleSerializer(data=request.data)
        if not serializer.is_valid():
            raise ValidationError(flat_errors(serializer.errors))
        user_ids = serializer.validated_data.get("user_ids", [])
        if outside := read_scope(request).outside(user_ids):
            raise OutsideScope(outside, field="user_ids")
        rule = serializer.save(owner=request.user)
        return Response(CreatedRuleSerializer(rule).data, status=201)


class AlertsView(LogsAPIView):
    """Alerts of the user_ids granted to the caller, newest first."""

    throttle_scopes = {"GET": "search"}
    schema = FilterSetSchema()

    @extend_schema(
        parameters=[
            USER_PARAMETER,
            OpenApiParameter("state", str, enum=list(listing.STATES), description="Default: both."),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_ALERTS},
                description="At most this many; default 100.",
            ),
        ],
        responses={200: AlertSerializer(many=True), 400: ERRORS, 401: UNAUTHORIZED, 403: FORBIDDEN, 429: THROTTLED},
        description="Alerts (firing, and resolved ones) of the user_ids granted to you, whoever owns the rule; "
        "each with the paths of its chart and its logs.",
    )
    def get(self, request: Request) -> Response:
        data = parse(request)
        alerts = listing.visible_alerts(read_scope(request), data["user_id"], data["state"])
        audit.record(
            AuditEvent.Action.SEARCH,
            request,
            {"door": "alerts-api", "user_ids": list(data["user_id"]), "state": data["state"]},
        )
        return Response(AlertSerializer(alerts[: data["limit"] or 100], many=True).data)
