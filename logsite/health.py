"""GET /healthz: is every service the app depends on reachable?"""

from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from kombu import Connection

from archive.storage import check_archive_storage


def check_mongodb() -> None:
    connection = connections["logs"]
    connection.ensure_connection()
    connection.connection.admin.command("ping")


def check_sql() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def check_broker() -> None:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as connection:
        connection.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {
    "mongodb": check_mongodb,
    "sql": check_sql,
    "broker": check_broker,
    "archive_storage": check_archive_storage,
}


def run_checks() -> dict[str, str]:
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means "unreachable"; say which and why
            results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
    return results


@never_cache
def healthz(request):
    results = run_checks()
    failing = [name for name, state in results.items() if state != "ok"]
    status = 503 if failing else 200
    return JsonResponse(
        {"status": "ok" if not failing else "unavailable", "failing": failing, "checks": results}, status=status
    )
