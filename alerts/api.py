"""GET/POST /api/v1/alerts/rules (the caller's rules) and GET /api/v1/alerts (alerts of granted user_ids).

Grants, tokens, throttles and audit are the logs API's (`LogsAPIView`, `read_scope`, `audit.record`); what a
caller may see is alerts.listing's, what a valid rule is `Rule.clean`'s.
"""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from access import audit
from access.models import AuditEvent
from access.scope import OutsideScope, read_scope
from alerts import listing, notify
from alerts.models import Alert, Rule
from api.schema import ERRORS, FORBIDDEN, THROTTLED, UNAUTHORIZED
from doors.apiview import LogsAPIView
from metrics.api import USER_PARAMETER
from retrieval.filters import IntegerListField

MAX_ALERTS = 500


class RuleSerializer(serializers.ModelSerializer):
    user_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=0),
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

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        rule = Rule(**attrs)
        try:
            rule.clean()
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return attrs


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

    @extend_schema(
        parameters=[USER_PARAMETER],
        responses={200: RuleSerializer(many=True), 400: ERRORS, 401: UNAUTHORIZED, 403: FORBIDDEN, 429: THROTTLED},
        description="Your alert rules; with `user_id`, those naming one of them (each must be granted to you).",
    )
    def get(self, request: Request) -> Response:
        data = parse(request, RulesForm)
        rules = listing.own_rules(request.user.pk, read_scope(request), data["user_id"])
        return Response(RuleSerializer(rules, many=True).data)

    @extend_schema(
        request=RuleSerializer,
        responses={201: CreatedRuleSerializer, 400: ERRORS, 401: UNAUTHORIZED, 403: FORBIDDEN, 429: THROTTLED},
        description="Make an alert rule. Kinds: `threshold` (the metric's `aggregate` over the window "
        "`above`/`below` `threshold`), `drop` (the window's mean fell by `threshold` percent or more against the "
        "window before), `errors` (error and critical logs of a user_id in the window above `threshold`). "
        "`user_ids` must be granted to you (403 naming them); empty: every user_id granted to you when the rule "
        "is evaluated. The answer holds the webhook's `secret`, shown only here.",
    )
    def post(self, request: Request) -> Response:
        serializer = RuleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_ids = serializer.validated_data.get("user_ids", [])
        if outside := read_scope(request).outside(user_ids):
            raise OutsideScope(outside, field="user_ids")
        rule = serializer.save(owner=request.user)
        return Response(CreatedRuleSerializer(rule).data, status=201)


class AlertsView(LogsAPIView):
    """Alerts of the user_ids granted to the caller, newest first."""

    throttle_scopes = {"GET": "search"}

    @extend_schema(
        parameters=[
            USER_PARAMETER,
            OpenApiParameter("state", str, enum=list(listing.STATES), description="Default: both."),
            OpenApiParameter("limit", int, description=f"At most this many (1 to {MAX_ALERTS}); default 100."),
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
