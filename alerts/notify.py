"""Notifications: a delivery per channel per transition, sent at most once each by the `alerts.deliver` task.

Exactly once, as far as the far side lets us: the deliveries are written in the transition's transaction
(`record`); after the commit they are queued (`queue`); a delivery is sent under its row lock and marked in
the same transaction (`deliver`), so a second task for it finds it sent or locked and does nothing. What a
crash leaves: a delivery never queued (the process died after the commit) or whose task was lost is queued
again by the next tick (`requeue_stale`). Only a process that dies between the far side's answer and the
commit makes the next attempt send again: each request carries `X-LogRetrieval-Delivery` (the transition's
id and channel) so a receiver can drop that one repeat.
"""

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from celery import current_app
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from alerts.models import Alert, Delivery, Rule, Transition

# A queued delivery not sent this long after it was due lost its task (a worker died, the broker lost it).
REQUEUE_AFTER = timedelta(minutes=5)
CHART_CONTEXT = timedelta(hours=24)
SIGNATURE_HEADER = "X-LogRetrieval-Signature"


def record(rule: Rule, alert: Alert, kind: str, now: datetime, value: float | None) -> Transition:
    """The transition and its deliveries (one per channel of the rule); call inside the state change's
    transaction. They are queued once it commits."""
    transition = Transition.objects.create(alert=alert, kind=kind, at=now, value=value)
    channels = [
        channel
        for channel, wanted in ((Delivery.Channel.EMAIL, rule.email), (Delivery.Channel.WEBHOOK, rule.webhook_url))
        if wanted
    ]
    deliveries = Delivery.objects.bulk_create([Delivery(transition=transition, channel=c) for c in channels])
    ids = [delivery.pk for delivery in deliveries]
    if ids:
        transaction.on_commit(lambda: queue(ids), robust=True)  # a broker down: requeue_stale
    return transition


def queue(ids: list[int]) -> None:
    """Send a task per delivery, then note when: one sent but not noted is queued twice later, which `deliver`
    makes harmless; noted but not sent would wait REQUEUE_AFTER for nothing."""
    for pk in ids:
        current_app.send_task("alerts.deliver", args=[pk])
    Delivery.objects.filter(pk__in=ids).update(queued_at=timezone.now())


def requeue_stale(now: datetime) -> int:
    """Queue again the pending deliveries whose task was lost, or which a dead process never queued."""
    stale = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING)
        .filter(Q(queued_at__lt=now - REQUEUE_AFTER) | Q(queued_at=None, transition__at__lt=now - timedelta(minutes=1)))
        .values_list("pk", flat=True)
    )
    if stale:
        queue(stale)
    return len(stale)


def links(alert: Alert, until: datetime) -> dict[str, str]:
    """Paths of the alert's chart (the metrics page; built as a path: another app serves it) and of its logs."""
    rule = alert.rule
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    logs: dict[str, Any] = {
        "user_id": alert.user_id,
        "from": alert.window_start.strftime(stamp),
        "to": max(alert.window_end, until).strftime(stamp),
    }
    if rule.kind == Rule.Kind.ERRORS:
        logs["min_level"] = "error"
        return {"logs": "/?" + urlencode(logs)}
    chart: dict[str, Any] = {
        "name": rule.metric,
        "user_id": alert.user_id,
        "from": (alert.fired_at - CHART_CONTEXT).strftime(stamp),
        "to": (until + timedelta(hours=1)).strftime(stamp),
        "agg": rule.aggregate or Rule.Aggregate.AVG,
    }
    if alert.model:
        chart["model"] = alert.model
    return {"chart": "/charts?" + urlencode(chart), "logs": "/?" + urlencode(logs)}


def payload(transition: Transition) -> dict[str, Any]:
    alert, rule = transition.alert, transition.alert.rule
    return {
        "delivery": f"{transition.pk}",
        "state": "firing" if transition.kind == Transition.Kind.FIRED else "resolved",
        "at": transition.at.isoformat(),
        "rule": {
            "id": rule.pk,
            "name": rule.name,
            "kind": rule.kind,
            "metric": rule.metric,
            "aggregate": rule.aggregate,
            "comparison": rule.comparison,
            "threshold": rule.threshold,
            "window_minutes": rule.window_minutes,
        },
        "alert": alert.pk,
        "user_id": alert.user_id,
        "model": alert.model,
        "value": transition.value,
        "links": {
            name: settings.ALERTS_SITE_URL + path
            for name, path in links(alert, alert.resolved_at or transition.at).items()
        },
    }


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class SendFailed(Exception):
    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


def post_webhook(delivery: Delivery, body: bytes) -> int:
    rule = delivery.transition.alert.rule
    request = urllib.request.Request(
        rule.webhook_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(rule.secret, body),
            "X-LogRetrieval-Delivery": f"{delivery.transition_id}:{delivery.channel}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise SendFailed(f"HTTP {exc.code}", exc.code) from None
    except (OSError, ValueError) as exc:  # refused, timed out, unresolvable, a malformed URL
        raise SendFailed(f"{type(exc).__name__}: {exc}"[:500]) from None


def send_email(delivery: Delivery, message: dict[str, Any]) -> None:
    rule = delivery.transition.alert.rule
    subject = f"[{message['state']}] {rule.name}: user {message['user_id']}"
    if message["model"]:
        subject += f", {message['model']}"
    lines = [f"{subject} at {message['at']} (value: {message['value']}).", ""]
    lines += [f"{name}: {url}" for name, url in message["links"].items()]
    try:
        send_mail(subject, "\n".join(lines), settings.DEFAULT_FROM_EMAIL, [rule.email])
    except OSError as exc:  # SMTP refused or unreachable
        raise SendFailed(f"{type(exc).__name__}: {exc}"[:500]) from None


@dataclass(frozen=True)
class Outcome:
    status: str | None  # None: nothing to do (sent, given up, or another task holds it)
    retry_in: float | None = None


def retry_delay(attempts: int) -> float:
    return settings.ALERTS_RETRY_BASE_SECONDS * 2 ** (attempts - 1)


def deliver(delivery_id: int) -> Outcome:
    """Try the delivery once, if still pending and no other task holds it; record the attempt."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("transition__alert__rule")
            .filter(pk=delivery_id, status=Delivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return Outcome(None)
        message = payload(delivery.transition)
        delivery.attempts += 1
        try:
            if delivery.channel == Delivery.Channel.WEBHOOK:
                delivery.status_code = post_webhook(delivery, json.dumps(message).encode())
            else:
                send_email(delivery, message)
        except SendFailed as exc:
            delivery.status_code, delivery.last_error = exc.status_code, str(exc)
            gave_up = delivery.attempts >= settings.ALERTS_MAX_ATTEMPTS
            delivery.status = Delivery.Status.FAILED if gave_up else Delivery.Status.PENDING
            retry = None if gave_up else retry_delay(delivery.attempts)
            if retry is not None:
                delivery.queued_at = timezone.now() + timedelta(seconds=retry)
            delivery.save()
            return Outcome(delivery.status, retry)
        delivery.status, delivery.sent_at = Delivery.Status.SENT, timezone.now()  # last_error stays: the log
        delivery.save()
        return Outcome(delivery.status)
