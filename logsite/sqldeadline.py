"""A client-side deadline for every PostgreSQL round trip.

libpq has none: a server that stops answering (paused, a hung host, a lost network path
whose kernel still acknowledges) keeps a query waiting forever, and `statement_timeout`
needs the server to enforce it. psycopg's wait loop takes a timeout; every connection Django
opens waits at most SQL_TIMEOUT_SECONDS per round trip, then is closed (its state is unknown)
and the caller gets an OperationalError, which the doors answer as 503 (logsite.middleware).
"""

from typing import Any

import psycopg
from psycopg.errors import _WaitTimeout


class DeadlineConnection(psycopg.Connection):
    deadline: float = 10.0

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        try:
            return super().wait(gen, interval=interval, timeout=self.deadline if timeout is None else timeout)
        except _WaitTimeout:
            self.pgconn.finish()  # as psycopg does when a cancelled query does not end
            raise psycopg.OperationalError(
                f"The SQL server did not answer within {self.deadline:g} s (SQL_TIMEOUT_SECONDS)."
            ) from None


def install(seconds: float) -> None:
    """Make `psycopg.connect`, which Django's PostgreSQL backend calls, open DeadlineConnections."""
    DeadlineConnection.deadline = seconds
    psycopg.connect = DeadlineConnection.connect  # type: ignore[assignment]
