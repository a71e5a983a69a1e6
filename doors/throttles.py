"""Request rates per token (else user, else client address) and scope: search, export, ingest.

The rates are the setting THROTTLE_RATES, read on every request (tests change them); the
counts live in Django's cache, which is Redis when REDIS_URL is set, so every gunicorn
worker and replica counts the same requests. The DRF views name their scope per method
(`LogsAPIView.throttle_scopes`); the plain Django export views use `throttled`.
"""

import logging
import math
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class ScopeThrottle(SimpleRateThrottle):
    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.rate = settings.THROTTLE_RATES.get(scope) or None  # empty: no limit
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_cache_key(self, request: Any, view: Any) -> str:
        auth = getattr(request, "auth", None)
        if auth is not None and getattr(auth, "pk", None) is not None:
            ident = f"token-{auth.pk}"  # an ApiToken's row id, not its secret
        elif request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"address-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # the cache (Redis) is down: serve rather than fail every request
            logger.warning("throttle %s not counted (%s): %s", self.scope, type(exc).__name__, exc)
            return True

    def retry_after(self) -> int:
        """Whole seconds to wait, for the Retry-After header."""
        return whole_seconds(self.wait())


def whole_seconds(wait: float | None) -> int:
    """A throttle's wait as Retry-After: whole seconds, at least 1 (a wait under a second is not "0")."""
    return max(1, math.ceil(wait or 1))


def throttled(scope: str) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """The `scope` rate for a plain Django view: past it, 429 with Retry-After."""

    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            throttle = ScopeThrottle(scope)
            if not throttle.allow_request(request, None):
                wait = throttle.retry_after()
                response = JsonResponse({"detail": f"Too many requests; try again in {wait} s."}, status=429)
                response["Retry-After"] = str(wait)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
