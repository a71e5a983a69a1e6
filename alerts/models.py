"""Alert rules, the alerts they raised (one row per firing episode of a (rule, user_id, model) series), the
transitions of those series and the deliveries of each transition, all in SQL.

A series' state is its open alert: `ok` without one, `firing` with one (`resolved_at` empty; at most one per
series, a unique constraint). Firing creates the alert and its `fired` transition in one transaction, resolving
sets `resolved_at` and writes the `resolved` transition in one transaction, each with a `Delivery` per channel:
a tick that dies before its commit wrote nothing, one that dies after it left deliveries that the next tick
queues again (alerts.notify).
"""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from retrieval.filters import MAX_USER_ID, MAX_USER_IDS

MIN_WINDOW_MINUTES = 1
MAX_WINDOW_MINUTES = 7 * 24 * 60  # a drop rule reads twice its window of hourly aggregates


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class Rule(models.Model):
    class Kind(models.TextChoices):
        THRESHOLD = "threshold", "a metric's aggregate above or below a threshold"
        DROP = "drop", "a drop of the window's mean against the previous window's, in percent"
        ERRORS = "errors", "error-level logs per user above a count"

    class Aggregate(models.TextChoices):
        AVG = "avg"
        MIN = "min"
        MAX = "max"
        LAST = "last"

    class Comparison(models.TextChoices):
        ABOVE = "above"
        BELOW = "below"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    metric = models.CharField(max_length=100, blank=True, help_text="The metric (threshold and drop rules).")
    aggregate = models.CharField(max_length=10, choices=Aggregate.choices, default=Aggregate.AVG, blank=True)
    comparison = models.CharField(max_length=10, choices=Comparison.choices, default=Comparison.ABOVE, blank=True)
    threshold = models.FloatField(
        help_text="Threshold rules: the aggregate's limit; drop rules: the percent the mean may fall; "
        "errors rules: the count of error and critical logs a window may hold."
    )
    window_minutes = models.PositiveIntegerField(
        default=60,
        help_text="Metric rules read hourly aggregates: their window is rounded up to whole hours "
        "(the current hour and those before it).",
    )
    user_ids = models.JSONField(
        default=list, blank=True, help_text="Empty: every user_id the owner is granted, when the rule is evaluated."
    )
    model = models.CharField(max_length=200, blank=True, help_text="Empty: every model (each its own series).")
    email = models.EmailField(blank=True)
    webhook_url = models.URLField(blank=True, max_length=500)
    secret = models.CharField(
        max_length=100, default=new_secret, help_text="Key of the webhook's X-LogRetrieval-Signature HMAC."
    )
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """What each kind needs (the admin's form and the API's serializer both call this)."""
        errors: dict[str, str] = {}
        if self.kind == self.Kind.ERRORS:
            if self.metric:
                errors["metric"] = "An errors rule counts logs: no metric."
            if self.model:
                errors["model"] = "The error counters know users, not models: no model."
        elif not self.metric:
            errors["metric"] = "A threshold or drop rule needs a metric."
        if self.kind == self.Kind.DROP and not 0 < self.threshold <= 100:
            errors["threshold"] = "A drop is a percent above 0, at most 100."
        if self.kind == self.Kind.ERRORS and self.threshold < 0:
            errors["threshold"] = "A count of logs is 0 or more."
        if not MIN_WINDOW_MINUTES <= (self.window_minutes or 0) <= MAX_WINDOW_MINUTES:
            errors["window_minutes"] = f"From {MIN_WINDOW_MINUTES} to {MAX_WINDOW_MINUTES} minutes."
        if self.webhook_url and not self.webhook_url.lower().startswith(("http://", "https://")):
            errors["webhook_url"] = "An http:// or https:// address."
        if not isinstance(self.user_ids, list) or not all(
            isinstance(u, int) and not isinstance(u, bool) and 0 <= u <= MAX_USER_ID for u in self.user_ids
        ):
            errors["user_ids"] = f"A list of user ids (whole numbers from 0 to {MAX_USER_ID})."
        elif len(self.user_ids) > MAX_USER_IDS:
            errors["user_ids"] = f"At most {MAX_USER_IDS} user ids."
        if errors:
            raise ValidationError(errors)


class Alert(models.Model):
    """One firing of one series: open (firing) until `resolved_at`."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="alerts")
    user_id = models.BigIntegerField()
    model = models.CharField(max_length=200, blank=True)
    fired_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    value = models.FloatField(help_text="The value that fired it.")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()

    class Meta:
        ordering = ["-fired_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "user_id", "model"], condition=Q(resolved_at__isnull=True), name="alert_one_open"
            )
        ]
        indexes = [models.Index(fields=["user_id", "fired_at"])]

    def __str__(self) -> str:
        return f"{self.rule} for user {self.user_id}{' ' + self.model if self.model else ''}"

    @property
    def firing(self) -> bool:
        return self.resolved_at is None


class Transition(models.Model):
    class Kind(models.TextChoices):
        FIRED = "fired"
        RESOLVED = "resolved"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="transitions")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    at = models.DateTimeField()
    value = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alert", "kind"], name="transition_once")]

    def __str__(self) -> str:
        return f"{self.alert} {self.kind} at {self.at:%Y-%m-%d %H:%M}"


class Delivery(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed", "failed (gave up)"

    transition = models.ForeignKey(Transition, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    status_code = models.IntegerField(null=True, blank=True, help_text="The webhook's last HTTP status.")
    last_error = models.TextField(blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["transition", "channel"], name="delivery_once")]
        indexes = [models.Index(fields=["status", "queued_at"])]

    def __str__(self) -> str:
        return f"{self.channel} of {self.transition}"
