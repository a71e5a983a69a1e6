"""Celery tasks of the alerts; the beat entry of `evaluate_alerts` comes from alerts/migrations (editable in
the admin)."""

from typing import Any

from celery import shared_task

from alerts import notify, states


@shared_task(name="alerts.evaluate_alerts")
def evaluate_alerts() -> dict[str, int]:
    """One tick over every enabled rule (alerts.states.tick)."""
    result = states.tick()
    return {"fired": len(result.fired), "resolved": len(result.resolved), "requeued": result.requeued}


@shared_task(name="alerts.deliver", bind=True, max_retries=None)
def deliver(self: Any, delivery_id: int) -> str | None:
    """Send one delivery; a failed attempt is retried with exponential backoff until ALERTS_MAX_ATTEMPTS (the
    count is the delivery row's, so a requeued task does not start it over)."""
    outcome = notify.deliver(delivery_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status
