"""What a caller may learn of the servers behind the app when a service fails.

Error texts name internal hosts, ports and driver topology (pymongo's "127.0.0.1:27017:
[Errno 111] Connection refused, Timeout: 5s, Topology Description: ..."). Staff see them;
anyone else sees "unavailable". The full text always goes to the server log.
"""

import logging
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpRequest

logger = logging.getLogger(__name__)

UNAVAILABLE = "unavailable"


def is_staff(user: Any) -> bool:
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def session_user(request: HttpRequest) -> Any:
    """The request's user from its session cookie, for views answered before the session middleware
    (logsite.middleware); anonymous when the session cannot be read (SQL down, say)."""
    try:
        engine = import_module(settings.SESSION_ENGINE)
        request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
        return get_user(request)
    except Exception:  # the session store is itself one of the failing services
        return None


def shown(statuses: dict[str, str], detailed: bool, what: str) -> dict[str, str]:
    """`statuses` (name -> "ok" or an error text) as this caller may see them; errors are logged in full."""
    for name, status in statuses.items():
        if status != "ok":
            logger.warning("%s %s: %s", what, name, status)
    if detailed:
        return statuses
    return {name: status if status == "ok" else UNAVAILABLE for name, status in statuses.items()}


def shown_error(message: str, detailed: bool, what: str) -> str:
    """One error text as this caller may see it (logged in full)."""
    return shown({"error": message}, detailed, what)["error"]
