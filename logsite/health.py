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
import math
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from kombu import Connection

from logsite.disclosure import is_staff, session_user, shown

# Each check's socket timeout, and how long an answer waits for them all (they run at once): a probe is
# answered within 2 s whatever is paused; a check still waiting then is named as not answering.
CHECK_SECONDS = 1.5
# The checks' own network timeouts, shorter: a service that refuses is named with its error, not "no answer".
SOCKET_SECONDS = 1.0
# A check's first run in a process also builds its clients (an S3 client: a second or more on a busy host).
FIRST_CHECK_SECONDS = 5.0


def check_sql() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def check_broker() -> None:
    options = {"socket_timeout": SOCKET_SECONDS, "socket_connect_timeout": SOCKET_SECONDS}
    with Connection(
        settings.CELERY_BROKER_URL, connect_timeout=SOCKET_SECONDS, transport_options=options
    ) as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=math.ceil(SOCKET_SECONDS))


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


def run_check(check: Callable[[], None]) -> str:
    try:
        check()
        return "ok"
    except Exception as exc:  # any failure means "unreachable"; say which and why
        return f"error: {type(exc).__name__}: {exc}"[:300]
    finally:
        # This thread lives on: a fresh SQL connection and fresh wrappers each probe, so that each probe
        # connects as configured now (MongoDB's client is the process's shared one, and stays open).
        connections.close_all()
        for connection in connections.all(initialized_only=True):
            del connections[connection.alias]


# One thread per check, kept: what a check builds per thread (an S3 client: a second or more) is built once.
_workers: dict[str, ThreadPoolExecutor] = {}
_running: dict[str, Future[str]] = {}
_lock = threading.Lock()


def _forget_workers() -> None:
    # A forked child has none of its parent's threads (nor a lock one of them held): it starts its own.
    global _lock
    _workers.clear()
    _running.clear()
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_workers)


def start_check(name: str, check: Callable[[], None]) -> Future[str]:
    """`check` running in its own thread; a run still hung from an earlier probe is waited on, not queued behind."""
    with _lock:
        running = _running.get(name)
        if running is not None and not running.done():
            return running
        if name not in _workers:
            _workers[name] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"healthz-{name}")
        _running[name] = _workers[name].submit(run_check, check)
        return _running[name]


def run_checks(names: Iterable[str] | None = None) -> dict[str, str]:
    """Each check's "ok" or its error; all checks, or those of `names`, at once, within CHECK_SECONDS."""
    selected = CHECKS if names is None else {name: CHECKS[name] for name in names}
    first = any(name not in _workers for name in selected)
    futures = {name: start_check(name, check) for name, check in selected.items()}
    seconds = FIRST_CHECK_SECONDS if first else CHECK_SECONDS
    wait(futures.values(), timeout=seconds)
    return {
        name: future.result() if future.done() else f"error: no answer within {seconds:g} s"
        for name, future in futures.items()
    }


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
