"""GET /healthz: is every service the app depends on reachable? GET /readyz: can a web pod answer?

The project's own services (SQL, the Celery broker) are checked here; each app adds
the checks of the services it brings with `register` from its `AppConfig.ready`
(retrieval: MongoDB; archive: the archive storage), so this module imports no app.

Readiness (Kubernetes' readinessProbe) runs only the checks registered with `ready=True`:
SQL and MongoDB, without which no page answers. A broker or object-storage outage degrades
some features (archiving, cold reads) and shows on /healthz, but takes no pod out of rotation.

Error texts name internal hosts and ports: only staff and the METRICS_TOKEN bearer see them.
"""

import hmac
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from kombu import Connection

from logsite.disclosure import is_staff, session_user, shown


def check_sql() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def check_broker() -> None:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as connection:
        connection.ensure_connection(max_retries=1, timeout=2)


# name -> a check that raises when its service cannot be reached.
CHECKS: dict[str, Callable[[], None]] = {"sql": check_sql, "broker": check_broker}
# The names of the checks /readyz runs.
READY: set[str] = {"sql"}


def register(name: str, check: Callable[[], None], ready: bool = False) -> None:
    """Add `check` to /healthz under `name` (registering a name again replaces its check);
    `ready`: a web pod cannot answer without this service, so /readyz runs it too."""
    CHECKS[name] = check
    if ready:
        READY.add(name)
    else:
        READY.discard(name)


def run_checks(names: Iterable[str] | None = None) -> dict[str, str]:
    """Each check's "ok" or its error; all checks, or those of `names`."""
    results: dict[str, str] = {}
    selected = CHECKS if names is None else {name: CHECKS[name] for name in names}
    for name, check in selected.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means "unreachable"; say which and why
            results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
    return results


def sees_details(request: HttpRequest) -> bool:
    """The METRICS_TOKEN bearer (a monitor) or a staff user's session."""
    token = settings.METRICS_TOKEN
    if token and hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return True
    return is_staff(session_user(request))


def checks_response(request: HttpRequest, names: Iterable[str] | None) -> JsonResponse:
    results = run_checks(names)
    failing = [name for name, state in results.items() if state != "ok"]
    status = 503 if failing else 200
    checks = shown(results, failing != [] and sees_details(request), request.path_info)
    return JsonResponse(
        {"status": "ok" if not failing else "unavailable", "failing": failing, "checks": checks}, status=status
    )


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return checks_response(request, None)


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    return checks_response(request, sorted(READY))
