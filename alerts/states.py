"""One evaluation tick: every enabled rule's series moves ok -> firing -> ok (resolved), each move written with
its transition and deliveries in one transaction (alerts.models; a savepoint in a commit of up to CHUNK), then
queued for sending after the commit.

Re-running a tick, or two ticks at once, moves nothing twice: a series fires only while it has no open alert
(a unique constraint), and resolves only the open alert it locks.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts import notify
from alerts.evaluate import Reading, readings
from alerts.models import Alert, Rule, Transition

CHUNK = 500  # transitions per commit


@dataclass
class TickResult:
    fired: list[int] = field(default_factory=list)  # alert ids
    resolved: list[int] = field(default_factory=list)
    requeued: int = 0


def fire(rule: Rule, user_id: int, model: str, reading: Reading, now: datetime) -> Alert | None:
    """Open an alert for the series with its `fired` transition and deliveries; None if one is open already."""
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=rule,
                user_id=user_id,
                model=model,
                fired_at=now,
                value=reading.value,
                window_start=reading.window_start,
                window_end=reading.window_end,
            )
            notify.record(rule, alert, Transition.Kind.FIRED, now, reading.value)
    except IntegrityError:  # another tick opened it first
        return None
    return alert


def resolve(alert_id: int, value: float | None, now: datetime) -> bool:
    """Close the open alert with its `resolved` transition and deliveries; False if it is closed already."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().select_related("rule").filter(pk=alert_id, resolved_at=None).first()
        if alert is None:
            return False
        alert.resolved_at = now
        alert.save(update_fields=["resolved_at"])
        notify.record(alert.rule, alert, Transition.Kind.RESOLVED, now, value)
    return True


def tick(now: datetime | None = None) -> TickResult:
    """Evaluate every enabled rule once, and queue again the deliveries a dead tick or worker left behind."""
    now = now or timezone.now()
    result = TickResult()
    rules = list(Rule.objects.filter(enabled=True).select_related("owner"))
    found = readings(rules, now)
    by_id = {rule.pk: rule for rule in rules}
    open_alerts = {
        (rule_id, user_id, model): pk
        for pk, rule_id, user_id, model in Alert.objects.filter(resolved_at=None, rule__enabled=True).values_list(
            "pk", "rule_id", "user_id", "model"
        )
    }
    fires = [(key, reading) for key, reading in found.items() if reading.breaching and key not in open_alerts]
    for first in range(0, len(fires), CHUNK):
        # A chunk commits once (a commit per transition cost ~2.5 ms); each transition in it is a savepoint,
        # so one another tick made first is skipped alone, and a death loses the chunk's whole transitions only.
        with transaction.atomic():
            for (rule_id, user_id, model), reading in fires[first : first + CHUNK]:
                alert = fire(by_id[rule_id], user_id, model, reading, now)
                if alert is not None:
                    result.fired.append(alert.pk)
    resolves = []
    for key, alert_id in open_alerts.items():
        now_reading = found.get(key)  # none: no values in the window, or the user is no longer granted
        if now_reading is None or not now_reading.breaching:
            resolves.append((alert_id, now_reading.value if now_reading else None))
    for first in range(0, len(resolves), CHUNK):
        with transaction.atomic():
            result.resolved += [pk for pk, value in resolves[first : first + CHUNK] if resolve(pk, value, now)]
    result.requeued = notify.requeue_stale(now)
    return result
