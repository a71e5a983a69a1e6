"""Real faults for the tests: the logs database pointed at another server (a closed port, a proxy that hangs);
a server paused with SIGSTOP (it accepts connections, as the kernel does, and answers nothing)."""

import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from django.conf import settings
from django.db import connections
from pymongo.uri_parser import parse_uri

from devservices import pytest_plugin
from devservices.processes import LocalService, free_port


def closed_port_uri() -> str:
    """A MongoDB URI where nothing listens: a server that is down."""
    return f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"


@contextmanager
def logs_database_at(uri: str, **options) -> Iterator[None]:
    """The `logs` database alias connected to `uri` (client `options` added), then back to the test server."""
    connection = connections["logs"]
    saved = {**connection.settings_dict, "OPTIONS": dict(connection.settings_dict["OPTIONS"])}
    close_client(connection)  # the next use connects with the settings below
    connection.settings_dict.update(HOST=uri, OPTIONS={**saved["OPTIONS"], **options})
    try:
        yield
    finally:
        close_client(connection)
        connection.settings_dict.update(saved)


def close_client(connection) -> None:
    """Close the process's MongoClient, also when another thread (a /healthz check) made it."""
    connection.close_pool()
    stray = connection._connection_pools.pop(connection.alias, None)
    if stray is not None:
        stray.close()


class AnswerDroppingProxy:
    """A real TCP proxy to the test MongoDB. Once `drop` is set it still forwards requests but no
    answers: the write lands and the driver never hears back, as with a hung server. It closes
    every connection after `give_up` seconds so that a driver without a deadline is not stuck forever."""

    def __init__(self, target: tuple[str, int], give_up: float = 12):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.uri = f"mongodb://127.0.0.1:{self.listener.getsockname()[1]}/?directConnection=true"
        self.drop = threading.Event()
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()
        self.timer = threading.Timer(give_up, self.close)
        self.timer.start()

    def _accept(self) -> None:
        while True:
            try:
                client = self.listener.accept()[0]
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if not (answers and self.drop.is_set()):
                    sink.sendall(chunk)
        except OSError:
            pass

    def close(self) -> None:
        self.timer.cancel()
        for sock in self.sockets:
            sock.close()


@contextmanager
def hung_mongodb() -> Iterator[AnswerDroppingProxy]:
    """The `logs` database, connected, then hung: requests still reach the server, answers no longer come
    back. No heartbeat meanwhile, so only the caller's own deadline can end a wait."""
    proxy = AnswerDroppingProxy(parse_uri(settings.MONGODB_URI)["nodelist"][0])
    try:
        with logs_database_at(proxy.uri, heartbeatFrequencyMS=60_000):
            connections["logs"].get_collection("logs").database.command("ping")  # connected before the hang
            proxy.drop.set()
            yield proxy
    finally:
        proxy.close()


def session_service(name: str) -> LocalService:
    """The server this test run started for `name` ("postgresql", "mongodb", "s3", "redis")."""
    return next(service for service in pytest_plugin._services.started if service.name == name)


def process_tree(pid: int) -> list[int]:
    """`pid` and every process descended from it, parents first (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended while we read
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree = [pid]
    for parent in tree:
        tree.extend(children.get(parent, []))
    return tree


@contextmanager
def paused(service: LocalService) -> Iterator[None]:
    """`service`'s processes stopped, then continued: the whole tree, not the process group, because
    PostgreSQL makes each backend a group leader of its own (an open connection would go on answering)."""
    tree = process_tree(service.process.pid)
    try:
        for pid in tree:
            # A backend may end between the listing and its signal (a connection closing): not an error.
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        yield
    finally:
        # Whatever happened, nothing stays stopped: a stopped postmaster would fail every test after this one.
        for pid in reversed(tree):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
