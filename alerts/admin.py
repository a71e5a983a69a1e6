"""Rules (each user sees and edits their own; a superuser every one), alerts and deliveries (read-only, of the
user_ids the viewer is granted, the way access/admin.py scopes its lists)."""

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

from access.scope import Scope, read_scope
from alerts import listing
from alerts.models import Alert, Delivery, Rule
from logsite.admin import ReadOnlyAdminMixin, utc_time


class RuleForm(forms.ModelForm):
    scope: Scope  # the editor's read scope, set by RuleAdmin.get_form
    webhook_url = forms.URLField(required=False, max_length=500, assume_scheme="https")

    class Meta:
        model = Rule
        fields = (
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
        )

    def clean_user_ids(self) -> Any:
        user_ids = self.cleaned_data["user_ids"]
        if isinstance(user_ids, list) and (outside := self.scope.outside(u for u in user_ids if isinstance(u, int))):
            raise forms.ValidationError(f"Not granted to you: user_id {', '.join(map(str, outside))}.")
        return user_ids


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ("name", "owner", "kind", "metric", "threshold", "window_minutes", "user_ids", "enabled")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "metric")
    readonly_fields = ("owner", "secret", "created")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rule]:
        found = super().get_queryset(request).select_related("owner")
        return found if request.user.is_superuser else found.filter(owner_id=request.user.pk)

    def get_form(self, request: HttpRequest, obj: Rule | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        form.scope = read_scope(request)  # type: ignore[attr-defined]  # RuleForm's
        return form

    def save_model(self, request: HttpRequest, obj: Rule, form: Any, change: bool) -> None:
        if not change:
            obj.owner = cast(User, request.user)
        super().save_model(request, obj, form, change)


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("rule", "user_id", "model", "value", "fired", "resolved")
    list_filter = ("rule__kind",)
    search_fields = ("rule__name", "model")
    fired = utc_time("fired_at", "fired")
    resolved = utc_time("resolved_at", "resolved")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Alert]:
        return listing.visible_alerts(read_scope(request))


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("transition", "channel", "status", "attempts", "status_code", "last_error", "sent")
    list_filter = ("channel", "status")
    sent = utc_time("sent_at", "sent")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        return listing.visible_deliveries(read_scope(request))
