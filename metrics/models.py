"""Model metrics in SQL: the admin's list of names, the per-bucket aggregates, and the writers' bookkeeping per day."""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

HOUR = 3600
DAY = 86400


class MetricName(models.Model):
    """A metric name found in messages (`Recall: 0.27`, `recall=0.27`), spelled as it is stored."""

    name = models.CharField(
        max_length=100,
        # What a name in a message can be (metrics.extract.PAIR): a token starting with a letter.
        validators=[RegexValidator(r"^[A-Za-z][A-Za-z0-9_-]*$", "Letters, digits, _ and -, starting with a letter.")],
        help_text="Matched in messages case-insensitively as a whole word before `:` or `=`; stored in this spelling. "
        "Letters, digits, _ and - only.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="metric_name_unique_casefolded")]

    def __str__(self) -> str:
        return self.name


class MetricBucket(models.Model):
    """The values of one metric of one (user_id, model) in one hour (`width` 3600) or, rolled up, one day (86400)."""

    name = models.CharField(max_length=100)
    user_id = models.IntegerField()
    start = models.DateTimeField()
    model = models.CharField(max_length=200, blank=True)
    width = models.IntegerField(choices=[(HOUR, "hour"), (DAY, "day")])
    count = models.BigIntegerField()
    total = models.FloatField()
    minimum = models.FloatField()
    maximum = models.FloatField()
    last = models.FloatField(help_text="The value of the latest log (the larger value among logs of the same time).")
    last_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Also the index of a chart: name, then users, then the time range.
            models.UniqueConstraint(fields=["name", "user_id", "start", "model", "width"], name="metric_bucket_key")
        ]

    def __str__(self) -> str:
        return f"{self.name} of user {self.user_id}, {self.model or 'no model'}, from {self.start:%Y-%m-%d %H:%M}"


class MetricDay(models.Model):
    """Writers of a UTC day's aggregates: `started` counts writers before their insert, `finished` after their
    aggregates are written (metrics.store says why). `rebuilt_at`: last recounted from the logs themselves."""

    day = models.DateField(unique=True)
    started = models.BigIntegerField(default=0)
    finished = models.BigIntegerField(default=0)
    last_start = models.DateTimeField(null=True)
    rebuilt_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.day}: {self.started} writes started, {self.finished} finished"
