"""GET /healthz: is every service the app depends on reachable?

The project's own services (SQL, the Celery broker) are checked here; each app adds
the checks of the services it brings with `register` from its `AppConfig.ready`
(retrieval: MongoDB; archive: the archive storage), so this module imports no app.
"""

from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from kombu import Connection


def check_sql() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def check_broker() -> None:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as connection:
        connection.ensure_connection(max_retries=1, timeout=2)


# name -> a check that raises when its service cannot be reached.
CHECKS: dict[str, Callable[[], None]] = {"sql": check_sql, "broker": check_broker}


def register(name: str, check: Callable[[], None]) -> None:
    """Add `check` to /healthz under `name` (registering a name again replaces its check)."""
    CHECKS[name] = check


def run_checks() -> dict[str, str]:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means "unreachable"; say which and why
            results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
    return results


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    results = run_checks()
    failing = [name for name, state in results.items() if state != "ok"]
    status = 503 if failing else 200
    return JsonResponse(
        {"status": "ok" if not failing else "unavailable", "failing": failing, "checks": results}, status=status
    )
