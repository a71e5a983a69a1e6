"""Grants (edited, each change audited), API tokens (listed by prefix, created with the secret shown once,
revoked) and the audit trail (read-only)."""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from access import audit, tokens
from access.models import SCOPES, ApiToken, AuditEvent, Grant, parse_user_ids
from access.scope import read_scope
from logsite.admin import ReadOnlyAdminMixin


def grant_params(grant: Grant) -> dict[str, Any]:
    return {
        "grant": str(grant),
        "read_all": grant.read_all,
        "read_user_ids": grant.read_user_ids,
        "write_all": grant.write_all,
        "write_user_ids": grant.write_user_ids,
    }


@admin.register(Grant)
class GrantAdmin(admin.ModelAdmin):
    list_display = ("__str__", "read_all", "read_user_ids", "write_all", "write_user_ids")
    list_filter = ("read_all", "write_all")
    search_fields = ("user__username", "group__name")
    autocomplete_fields = ("user", "group")

    def save_model(self, request: HttpRequest, obj: Grant, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit.record(AuditEvent.Action.GRANT_CHANGED, request, {**grant_params(obj), "created": not change})

    def delete_model(self, request: HttpRequest, obj: Grant) -> None:
        audit.record(AuditEvent.Action.GRANT_DELETED, request, grant_params(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Grant]) -> None:
        for grant in queryset:
            audit.record(AuditEvent.Action.GRANT_DELETED, request, grant_params(grant))
        super().delete_queryset(request, queryset)


class TokenCreationForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in SCOPES], initial=list(SCOPES), widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiToken
        fields = ("user", "name", "scopes", "user_ids", "expires")
        help_texts = {
            "user_ids": "Comma-separated; empty: every user_id the owner is granted.",
            "expires": "Empty: never.",
        }


def created_secret_key(pk: int) -> str:
    """The session key holding a token's secret between its creation and the page that shows it once."""
    return f"access.created_token.{pk}"


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "user", "scope_list", "user_ids", "expires", "last_used", "revoked")
    list_filter = ("revoked", "expires")
    search_fields = ("prefix", "name", "user__username")
    actions = ["revoke_tokens"]
    # Never the hash: it is not shown anywhere.
    readonly_fields = ("user", "name", "prefix", "scopes", "user_ids", "created", "expires", "last_used", "revoked")
    autocomplete_fields = ("user",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        # A token's name, owner and user_ids are its owner's business: others see their own tokens only.
        found = super().get_queryset(request)
        return found if request.user.is_superuser else found.filter(user=request.user)

    @admin.display(description="scopes")
    def scope_list(self, token: ApiToken) -> str:
        return ", ".join(token.scopes)

    def get_form(self, request: HttpRequest, obj: ApiToken | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = TokenCreationForm
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None and not request.user.is_superuser:
            # A token acts as its owner: only a superuser may make one for someone else.
            owner = cast(forms.ModelChoiceField, form.base_fields["user"])
            owner.queryset = User.objects.filter(pk=cast(User, request.user).pk)
        return form

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> tuple[str, ...]:
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        return self.readonly_fields if obj is not None else TokenCreationForm.Meta.fields

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        # Viewed, never edited: a token's rights change by creating another and revoking this one.
        return False

    def save_model(self, request: HttpRequest, obj: ApiToken, form: ModelForm, change: bool) -> None:
        data = form.cleaned_data
        token, secret = tokens.create_token(
            data["user"], data["name"], data["scopes"], parse_user_ids(data["user_ids"] or ""), data["expires"]
        )
        obj.pk, obj.prefix = token.pk, token.prefix
        request._created_token_secret = secret  # type: ignore[attr-defined]  # shown by response_add, once
        audit.record(AuditEvent.Action.TOKEN_CREATED, request, tokens.describe(token))

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> HttpResponse:
        # Redirect after the POST: refreshing the page that shows the secret must not create a second token.
        request.session[created_secret_key(obj.pk)] = request._created_token_secret  # type: ignore[attr-defined]
        return redirect("admin:access_apitoken_created", obj.pk)

    def get_urls(self) -> list[URLPattern]:
        created = path(
            "<int:pk>/created/", self.admin_site.admin_view(self.created_view), name="access_apitoken_created"
        )
        return [created, *super().get_urls()]

    def created_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The new token, with its secret the first time (taken out of the session), never again after."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "token": get_object_or_404(self.get_queryset(request), pk=pk),  # another's token is a 404
            "secret": request.session.pop(created_secret_key(pk), None),
            "title": "API token created",
        }
        return TemplateResponse(request, "admin/access/apitoken/created.html", context)

    @admin.action(description="Revoke selected tokens", permissions=["delete"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = 0
        for token in queryset:
            if tokens.revoke(token):
                revoked += 1
                audit.record(AuditEvent.Action.TOKEN_REVOKED, request, tokens.describe(token))
        self.message_user(request, f"Revoked {revoked} token(s); they answer 401 from now on.", messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("when", "actor", "token_prefix", "client_ip", "action", "outcome", "params")
    list_filter = ("action", "outcome", "when")
    search_fields = ("actor", "token_prefix", "client_ip")
    date_hierarchy = "when"
    actions = None

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        # A row holds its actor's query (user_ids, keywords): only those granted every user_id read all rows,
        # others read their own (a row names no user_ids a filter could match on every SQL database).
        events = super().get_queryset(request)
        return events if read_scope(request).everything else events.filter(user=request.user)
