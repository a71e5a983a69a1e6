from typing import TYPE_CHECKING, Any, cast

import pymongo
from django.conf import settings
from django.db import connections, models
from django_mongodb_backend.fields import ObjectIdAutoField
from pymongo.collection import Collection

from logsite import health

if TYPE_CHECKING:
    from logsite.mongodb.base import DatabaseWrapper as MongoDatabaseWrapper


class Level(models.TextChoices):
    """Log levels, declared from least to most severe."""

    DEBUG = "debug", "Debug"
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"
    CRITICAL = "critical", "Critical"

    @classmethod
    def at_least(cls, minimum: str) -> list[str]:
        """The levels as severe as `minimum` or more: at_least("error") -> error, critical."""
        values = list(cls.values)
        return values[values.index(minimum) :]


class LogEntry(models.Model):
    """One log line written by a user's model. Lives in MongoDB (collection `logs`)."""

    id = ObjectIdAutoField(primary_key=True)
    timestamp = models.DateTimeField()
    user_id = models.IntegerField()
    level = models.CharField(max_length=8, choices=Level.choices)
    message = models.TextField()
    logger = models.CharField(max_length=200, blank=True, default="")
    context = models.JSONField(null=True, blank=True)
    # FerretDB on PostgreSQL only: the fields searches send as equalities, one GIN index over
    # them on FerretDB's table (logsite.mongodb.ferretdb; `hour`/`day` are retrieval.buckets').
    ferretdb_gin_fields = ("user_id", "level", "hour", "day", "tick", "ahead")

    class Meta:
        db_table = "logs"
        verbose_name = "log entry"
        verbose_name_plural = "log entries"
        indexes = [
            # Equality (user, level) then range/sort (timestamp): the search shape. Searches
            # sort on (timestamp, _id) so cursors are exact; ending with _id lets MongoDB
            # walk the index in that order instead of sorting in memory.
            models.Index(fields=["user_id", "level", "timestamp", "id"], name="user_level_time"),
            # Whole-day reads regardless of user and level: the archiver, all-user searches.
            models.Index(fields=["timestamp", "id"], name="time"),
        ]

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.level} user {self.user_id}: {self.message[:80]}"

    @classmethod
    def collection(cls) -> Collection:
        """The pymongo collection behind the model, for bulk paths the ORM makes slow."""
        # connections[] is typed as any backend's wrapper; "logs" is always the MongoDB one.
        return cast("MongoDatabaseWrapper", connections["logs"]).get_collection(cls._meta.db_table)


class LateWrite(models.Model):
    """When ingest last stored logs of a day that the archiver may have moved to object storage already.

    Written (with the SQL server's clock) after the insert and before the answer: a search asked
    after the answer knows that MongoDB holds logs of that day again (archive.hot). In SQL.
    """

    day = models.DateField(unique=True)
    last_write = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.day}: logs stored at {self.last_write:%Y-%m-%d %H:%M:%S} UTC"


class SavedSearch(models.Model):
    """A user's named search on the search page: its query string, so that its link is the search. In SQL."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_searches")
    name = models.CharField(max_length=100)
    query = models.CharField(max_length=2000, blank=True)  # URL-encoded search parameters, no cursor
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_search_name_per_user")]

    def __str__(self) -> str:
        return self.name


class UserPreference(models.Model):
    """A user's display choices, kept with the account (not the browser): today whether times show in local time."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    local_time = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.user}: {'local time' if self.local_time else 'UTC'}"

    @classmethod
    def local_time_for(cls, user: Any) -> bool:
        return user.is_authenticated and cls.objects.filter(user=user, local_time=True).exists()


def check_mongodb() -> None:
    """/healthz: raise unless MongoDB (hot storage) answers a ping."""
    connection = connections["logs"]
    # Connecting asks the server too (its version): inside the deadline, or a stopped server is waited on
    # for the client's whole server-selection timeout and /healthz names nothing in time.
    with pymongo.timeout(health.SOCKET_SECONDS):  # a paused server: named in time, not waited for
        connection.ensure_connection()
        connection.connection.admin.command("ping")
