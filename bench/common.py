"""What the benches share: their own throwaway services and settings, and a local HTTP server for the app."""

import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))


def run_with_services(main: Callable[[], int], services: tuple[str, ...] = ("mongodb",), **environ: str) -> int:
    """Run `main` with Django set up on throwaway servers (unless MONGODB_URI and friends are set).

    MongoDB's database is `logretrieval_bench` (dropped by the bench), SQL a temporary SQLite file
    (or, with "postgresql" in `services`, that server's database).
    """
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    work.chmod(0o755)  # PostgreSQL's system user (when we are root) keeps its cluster in here
    started = None
    if not os.environ.get("MONGODB_URI"):
        from devservices.localservices import LocalServices

        started = LocalServices(names=services, data_root=work / "services", ephemeral=True)
        os.environ.update(started.start())
    # With "postgresql" among the services, Django's database is there (several processes write it).
    sql = {} if "postgresql" in services else {"DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}"}
    os.environ.update(
        MONGODB_NAME="logretrieval_bench",
        **sql,
        VAR_DIR=str(work),
        DEBUG="false",
        HTTPS_ONLY="false",  # plain HTTP on loopback
        SECRET_KEY="bench-only-secret",
        METRICS_TOKEN="bench-only-metrics-token",
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="logsite.settings",
        **environ,
    )
    try:
        import django

        django.setup()
        return main()
    finally:
        if started:
            started.stop()
        shutil.rmtree(work, ignore_errors=True)


def start_http_server() -> Any:
    """The app on a threaded WSGI server on a free loopback port (as runserver serves it)."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def load_archived_traffic(count: int, first: datetime, end: datetime, archive_before: date) -> tuple[Any, Any]:
    """Fresh databases, `count` logs of realistic traffic (`devservices.traffic`, 300 Zipf users) over
    [first, end) in MongoDB, and the days before `archive_before` archived: (the log collection, the run)."""
    from django.core.management import call_command

    from archive.archiver import archive_logs
    from devservices import traffic
    from retrieval import hotstore
    from retrieval.models import LogEntry

    logs = LogEntry.collection()
    logs.database.client.drop_database(logs.database.name)
    call_command("migrate", verbosity=0)
    call_command("migrate", database="logs", verbosity=0)
    for batch in traffic.batches(traffic.documents(count, first, end, users=300, seed=1), 10_000):
        hotstore.insert(batch)
    run = archive_logs(before=archive_before)
    print(f"  loaded {count:,} logs, archived {run.logs:,} over {run.days} days", file=sys.stderr)
    return logs, run
