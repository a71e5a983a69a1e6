"""Scoped API tokens: created with a secret shown once, stored as its sha256, sent as `Authorization: Token <key>`.

A secret is `lrt_` and 40 base62 characters (238 bits): the prefix lets secret scanners recognise a leaked
one, and that much randomness needs no slow hash, so a lookup by sha256 is enough.
"""

import hashlib
import secrets
import string
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication
from rest_framework.authentication import get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from access.models import READ, SCOPES, WRITE, ApiToken, format_user_ids

SECRET_PREFIX = "lrt_"
SECRET_LENGTH = 40
BASE62 = string.ascii_letters + string.digits
SHOWN_PREFIX_LENGTH = len(SECRET_PREFIX) + 8
# last_used is written at most this often per token: not one UPDATE per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
KEYWORDS = (b"token", b"bearer")


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    user: User,
    name: str,
    scopes: Iterable[str] = SCOPES,
    user_ids: Iterable[int] = (),
    expires: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token of `user` and its secret (the only time the secret exists outside the caller)."""
    scopes = sorted(set(scopes))
    if not scopes or not set(scopes) <= set(SCOPES):
        raise ValueError(f"Scopes must be some of {', '.join(SCOPES)}.")
    secret = SECRET_PREFIX + "".join(secrets.choice(BASE62) for _ in range(SECRET_LENGTH))
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[:SHOWN_PREFIX_LENGTH],
        key_hash=key_hash(secret),
        scopes=scopes,
        user_ids=format_user_ids(set(user_ids)),
        expires=expires,
    )
    return token, secret


def revoke(token: ApiToken) -> bool:
    """Revoke `token` (it answers 401 from now on); False if it was revoked already."""
    return bool(ApiToken.objects.filter(pk=token.pk, revoked__isnull=True).update(revoked=timezone.now()))


def describe(token: ApiToken) -> dict[str, Any]:
    """What an audit row and `tokens list` say about a token (never the hash)."""
    return {
        "prefix": token.prefix,
        "name": token.name,
        "owner": token.user.get_username(),
        "scopes": token.scopes,
        "user_ids": token.user_ids,
        "expires": token.expires.isoformat() if token.expires else None,
    }


def touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used is None or now - token.last_used >= LAST_USED_RESOLUTION:
        # Conditional, so that concurrent requests of one token write it once.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used__isnull=True) | Q(last_used__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used=now)
        token.last_used = now


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>` (or `Bearer <key>`): 401 for an unknown, expired or revoked key.

    A subclass of DRF's only so that drf-spectacular documents it as DRF's (`tokenAuth`); it shares no code
    with it (DRF's reads a plaintext key from the authtoken table)."""

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() not in KEYWORDS:
            return None
        if len(words) != 2:
            raise AuthenticationFailed("Send `Authorization: Token <key>`, the key without spaces.")
        try:
            secret = words[1].decode()
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid token.") from None
        token = ApiToken.objects.select_related("user").filter(key_hash=key_hash(secret)).first()
        if token is None or not token.user.is_active:
            raise AuthenticationFailed("Invalid token.")
        if token.revoked is not None:
            raise AuthenticationFailed("This token was revoked.")
        if token.expires is not None and token.expires <= timezone.now():
            raise AuthenticationFailed("This token has expired.")
        touch(token)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return "Token"


class TokenScopes(BasePermission):
    """A token reads (GET) only with `logs:read` and writes (POST) only with `logs:write`; a session may do both."""

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        needed = READ if request.method in SAFE_METHODS else WRITE
        if needed in token.scopes:
            return True
        self.message = f"This token lacks the {needed} scope."
        return False
