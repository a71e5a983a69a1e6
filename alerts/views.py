"""The alerts page: firing and past alerts of the user_ids granted to the caller."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from access import audit
from access.models import AuditEvent
from access.scope import read_scope
from alerts import listing, notify
from alerts.models import Alert
from retrieval.filters import IntegerListField

PAGE_ROWS = 200


class PageForm(forms.Form):
    user_id = IntegerListField(required=False)


def rows(alerts: list[Alert]) -> list[dict]:
    now = timezone.now()
    return [{"alert": alert, "links": notify.links(alert, alert.resolved_at or now)} for alert in alerts]


@login_required
def alerts_page(request: HttpRequest) -> HttpResponse:
    form = PageForm(request.GET)
    user_ids = form.cleaned_data["user_id"] if form.is_valid() else ()
    scope = read_scope(request)
    firing = list(listing.visible_alerts(scope, user_ids, "firing")[:PAGE_ROWS])  # OutsideScope: a 403
    past = list(listing.visible_alerts(scope, user_ids, "resolved")[:PAGE_ROWS])
    if form.is_valid():
        audit.record(AuditEvent.Action.SEARCH, request, {"door": "alerts-page", "user_ids": list(user_ids)})
    context = {"form": form, "firing": rows(firing), "past": rows(past), "limit": PAGE_ROWS}
    return render(request, "alerts/alerts.html", context, status=200 if form.is_valid() else 400)
