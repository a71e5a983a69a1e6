"""The audit trail: `record(...)` is the one way anything writes an `AuditEvent`; `prune()` keeps AUDIT_RETENTION_DAYS."""

import getpass
import ipaddress
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils import timezone

from access.models import ApiToken, AuditEvent


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind a trusted proxy (TRUST_X_FORWARDED_FOR) the address that
    proxy appended last to X-Forwarded-For (the entries before it are whatever the client sent)."""
    address = request.META.get("REMOTE_ADDR", "")
    if settings.TRUST_X_FORWARDED_FOR and request.META.get("HTTP_X_FORWARDED_FOR"):
        address = request.META["HTTP_X_FORWARDED_FOR"].split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def record(
    action: str,
    request: HttpRequest | Any | None = None,
    params: dict[str, Any] | None = None,
    outcome: str = "ok",
    user: User | None = None,
) -> AuditEvent:
    """Note that `action` happened: by the request's user (and token) from its client address, or, without a
    request, by `user` or the operating-system user running a command."""
    token_prefix, ip = "", None
    if request is not None:
        user = request.user if isinstance(request.user, User) else None  # not AnonymousUser
        token = getattr(request, "auth", None)
        token_prefix = token.prefix if isinstance(token, ApiToken) else ""
        ip = client_ip(request)
        actor = user.get_username() if user else "anonymous"
    else:
        actor = user.get_username() if user else f"command ({getpass.getuser()})"
    return AuditEvent.objects.create(
        user=user,
        actor=actor[:200],
        token_prefix=token_prefix,
        client_ip=ip,
        action=action,
        params=params or {},
        outcome=outcome[:200],
    )


def prune() -> int:
    """Delete the audit events older than AUDIT_RETENTION_DAYS; returns how many."""
    cutoff = timezone.now() - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    return AuditEvent.objects.filter(when__lt=cutoff).delete()[0]
