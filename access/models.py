"""Who may read and write which log user_ids (grants), API tokens (hashed) and the audit trail, all in SQL."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

READ = "logs:read"
WRITE = "logs:write"
SCOPES = (READ, WRITE)
MAX_LIST_LENGTH = 10_000  # characters of a comma-separated user_id list


def parse_user_ids(text: str) -> frozenset[int]:
    """ "1, 4,7" -> {1, 4, 7}; ValueError naming the first item that is not a user id."""
    ids = set()
    for item in text.replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        if not item.isascii() or not item.isdigit() or int(item) >= 2**31:
            raise ValueError(f"“{item[:20]}” is not a user id (a whole number from 0 to 2147483647).")
        ids.add(int(item))
    return frozenset(ids)


def format_user_ids(ids: frozenset[int] | set[int]) -> str:
    return ",".join(str(i) for i in sorted(ids))


def validate_user_ids(text: str) -> None:
    try:
        parse_user_ids(text)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class Grant(models.Model):
    """The log user_ids a user or a group may read and, separately, write. A user's effective set is
    the union of their own grant and their groups' (`access.scope`); superusers have all."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="log_grant"
    )
    group = models.OneToOneField(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="log_grant")
    read_all = models.BooleanField("read every user_id", default=False)
    read_user_ids = models.TextField(
        "read user_ids", blank=True, validators=[validate_user_ids], help_text="Comma-separated, e.g. 1,4,7."
    )
    write_all = models.BooleanField("write every user_id", default=False)
    write_user_ids = models.TextField(
        "write user_ids", blank=True, validators=[validate_user_ids], help_text="Comma-separated, e.g. 1,4,7."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="grant_user_xor_group",
            )
        ]

    def __str__(self) -> str:
        return f"user {self.user}" if self.user_id else f"group {self.group}"

    def clean(self) -> None:
        if bool(self.user_id) == bool(self.group_id):
            raise ValidationError("Grant to a user or to a group (one of them).")

    def user_ids(self, scope: str) -> frozenset[int] | None:
        """The user_ids granted for `scope` (READ or WRITE); None: every user_id."""
        if scope == READ:
            return None if self.read_all else parse_user_ids(self.read_user_ids)
        return None if self.write_all else parse_user_ids(self.write_user_ids)


class ApiToken(models.Model):
    """An API key. Only its sha256 is stored; the secret is shown once, at creation (`access.tokens`)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # The secret's first characters: enough to recognise a token in lists and logs, useless to authenticate.
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    # Empty: every user_id of the owner's grant; else only these (and only those the owner is granted).
    user_ids = models.TextField(blank=True, validators=[validate_user_ids])
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField(null=True, blank=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… {self.name}"

    @property
    def active(self) -> bool:
        return self.revoked is None and (self.expires is None or self.expires > timezone.now())

    def subset(self) -> frozenset[int] | None:
        return parse_user_ids(self.user_ids) or None


class AuditEvent(models.Model):
    """One audited action (`access.audit.record`). Read-only in the admin, pruned after AUDIT_RETENTION_DAYS."""

    class Action(models.TextChoices):
        SEARCH = "search"
        EXPORT = "export"
        REHYDRATE = "rehydrate"
        ARCHIVE_RUN = "archive_run", "archive run started"
        TOKEN_CREATED = "token_created"
        TOKEN_REVOKED = "token_revoked"
        GRANT_CHANGED = "grant_changed"
        GRANT_DELETED = "grant_deleted"

    when = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # Kept apart from `user`: the row still says who after the user is deleted, or names a command's OS user.
    actor = models.CharField(max_length=200, blank=True)
    token_prefix = models.CharField(max_length=16, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=200, default="ok")

    class Meta:
        ordering = ("-when",)

    def __str__(self) -> str:
        return f"{self.when:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"
