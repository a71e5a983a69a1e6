"""The processes of devservices: starting a server, waiting until it answers, stopping it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceExited(RuntimeError):
    pass


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ServiceExited:
            raise
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f}s")


def mongodb_answers(uri: str) -> bool:
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=500)
    try:
        return client.admin.command("ping").get("ok") == 1
    finally:
        client.close()


def postgresql_answers(url: str) -> bool:
    import psycopg

    with psycopg.connect(url, connect_timeout=1) as connection:
        return connection.execute("SELECT 1").fetchone() == (1,)


def redis_answers(url: str) -> bool:
    import redis

    return redis.Redis.from_url(url, socket_timeout=0.5).ping()


def http_answers(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=0.5) as response:
        return response.status < 500


@dataclass
class LocalService:
    """A server this module started: its process and the environment that points at it."""

    name: str
    process: subprocess.Popen
    env: dict[str, str]
    log_path: Path
    # Where it answers, for the log line and for other services (FerretDB's PostgreSQL).
    address: str = ""
    # A clean shutdown command (PostgreSQL: pg_ctl stop -m fast), tried before SIGTERM.
    stop_command: list[str] | None = None

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        if self.stop_command:
            subprocess.run(self.stop_command, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
            try:
                self.process.wait(timeout=30)
                return
            except subprocess.TimeoutExpired:
                pass
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    @property
    def running(self) -> bool:
        return self.process.poll() is None


def spawn(
    name: str, argv: list[str], data_root: Path, command_prefix: list[str] | None = None
) -> tuple[subprocess.Popen, Path, Path]:
    data_dir = data_root / name
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    log = open(log_path, "ab")  # noqa: SIM115 - the child keeps it open
    process = subprocess.Popen(
        [*(command_prefix or []), *(arg.replace("{dir}", str(data_dir)) for arg in argv)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=data_dir,
        start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it in order
    )
    log.close()
    return process, data_dir, log_path


def wait_or_stop(service: LocalService, check: Callable[[], bool]) -> None:
    def answers() -> bool:
        if not service.running:
            raise ServiceExited(f"{service.name} exited; see {service.log_path}")
        return check()

    try:
        wait_until(answers, service.name)
    except BaseException:
        service.stop()
        raise
