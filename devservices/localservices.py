"""Real local servers for development and tests: MongoDB (FerretDB), S3 (moto), Redis.

One piece of code used by the run command, the test command and the pytest
plugin. For each service, the configured URL wins (the service is then neither
started nor stopped); otherwise a real server is started on a free loopback port
with its data under `var/services/`, waited for, and stopped on exit.

    python -m devservices.localservices exec [--services mongodb,redis] -- CMD ARGS...

runs CMD with the services' URLs in its environment and stops what it started
when CMD ends (or on Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BIN_DIR = BASE_DIR / ".local" / "bin"
SERVICES_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var")) / "services"
FERRETDB_VERSION = "v1.24.2"
ALL_SERVICES = ("mongodb", "s3", "redis")
# moto accepts any credentials; set them so boto3 never looks elsewhere.
MOTO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


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


def ferretdb_binary() -> Path:
    """The FerretDB binary, built from the Go module proxy into .local/bin on first use.

    A plain `go install ...@v1.24.2` builds a binary that panics at start: the
    module zip lacks build/version/version.txt, which release builds generate.
    So: download the module, copy it, write that file, and build.
    """
    found = shutil.which("ferretdb")
    if found:
        return Path(found)
    binary = BIN_DIR / "ferretdb"
    if binary.exists():
        return binary
    print(f"Building FerretDB {FERRETDB_VERSION} (once, about a minute)...", file=sys.stderr)
    module = f"github.com/FerretDB/FerretDB@{FERRETDB_VERSION}"
    go_env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    info = subprocess.run(
        ["go", "mod", "download", "-json", module], env=go_env, check=True, capture_output=True, text=True
    )
    source = BASE_DIR / ".local" / "src" / "ferretdb"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(json.loads(info.stdout)["Dir"], source)
    subprocess.run(["chmod", "-R", "u+w", str(source)], check=True)
    (source / "build" / "version" / "version.txt").write_text(FERRETDB_VERSION + "\n")
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(["go", "build", "-o", str(binary), "./cmd/ferretdb"], cwd=source, env=go_env, check=True)
    return binary


def mongodb_answers(uri: str) -> bool:
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=500)
    try:
        return client.admin.command("ping").get("ok") == 1
    finally:
        client.close()


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

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    @property
    def running(self) -> bool:
        return self.process.poll() is None


def _spawn(name: str, argv: list[str], data_root: Path) -> tuple[subprocess.Popen, Path, Path]:
    data_dir = data_root / name
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    log = open(log_path, "ab")  # noqa: SIM115 - the child keeps it open
    process = subprocess.Popen(
        [arg.replace("{dir}", str(data_dir)) for arg in argv],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=data_dir,
        start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it in order
    )
    log.close()
    return process, data_dir, log_path


def start_mongodb(data_root: Path) -> LocalService:
    port, debug_port = free_port(), free_port()
    process, data_dir, log_path = _spawn(
        "mongodb",
        [
            str(ferretdb_binary()),
            "--handler=sqlite",
            "--sqlite-url=file:{dir}/",
            "--state-dir={dir}",
            f"--listen-addr=127.0.0.1:{port}",
            f"--debug-addr=127.0.0.1:{debug_port}",
            "--telemetry=disable",
            "--log-level=warn",
        ],
        data_root,
    )
    uri = f"mongodb://127.0.0.1:{port}/"
    service = LocalService("mongodb", process, {"MONGODB_URI": uri}, log_path)
    _wait_or_stop(service, lambda: mongodb_answers(uri))
    return service


def start_s3(data_root: Path) -> LocalService:
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    process, _, log_path = _spawn("s3", [str(moto), "-H", "127.0.0.1", "-p", str(port)], data_root)
    url = f"http://127.0.0.1:{port}"
    service = LocalService("s3", process, {"S3_ENDPOINT_URL": url, **MOTO_CREDENTIALS}, log_path)
    _wait_or_stop(service, lambda: http_answers(f"{url}/moto-api/"))
    return service


def start_redis(data_root: Path) -> LocalService:
    port = free_port()
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    process, _, log_path = _spawn(
        "redis",
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", "{dir}"],
        data_root,
    )
    url = f"redis://127.0.0.1:{port}/0"
    service = LocalService("redis", process, {"REDIS_URL": url, "CELERY_BROKER_URL": url}, log_path)
    _wait_or_stop(service, lambda: redis_answers(url))
    return service


def _wait_or_stop(service: LocalService, check: Callable[[], bool]) -> None:
    def answers() -> bool:
        if not service.running:
            raise ServiceExited(f"{service.name} exited; see {service.log_path}")
        return check()

    try:
        wait_until(answers, service.name)
    except BaseException:
        service.stop()
        raise


STARTERS = {"mongodb": start_mongodb, "s3": start_s3, "redis": start_redis}
CONFIGURED_BY = {"mongodb": "MONGODB_URI", "s3": "S3_ENDPOINT_URL", "redis": "REDIS_URL"}


def is_configured(name: str, environ: dict[str, str] | os._Environ) -> bool:
    if name == "redis":
        return bool(environ.get("REDIS_URL") or environ.get("CELERY_BROKER_URL"))
    return bool(environ.get(CONFIGURED_BY[name]))


@dataclass
class LocalServices:
    """Start the services that are not configured; `env` then points at all of them."""

    names: tuple[str, ...] = ALL_SERVICES
    # Where the servers keep their data; kept between runs unless `ephemeral`.
    data_root: Path = SERVICES_DIR / "run"
    ephemeral: bool = False
    started: list[LocalService] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def start(self, environ: dict[str, str] | os._Environ = os.environ) -> dict[str, str]:
        try:
            for name in self.names:
                if is_configured(name, environ):
                    continue
                service = STARTERS[name](self.data_root)
                self.started.append(service)
                self.env.update(service.env)
        except BaseException:
            self.stop()
            raise
        if "s3" in self.names:
            self._create_bucket({**environ, **self.env})
        return self.env

    def stop(self) -> None:
        while self.started:
            self.started.pop().stop()
        if self.ephemeral:
            shutil.rmtree(self.data_root, ignore_errors=True)

    def __enter__(self) -> LocalServices:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _create_bucket(self, environ: dict[str, str]) -> None:
        """Create the archive bucket on an S3 server we started (a real one has it already)."""
        if not any(service.name == "s3" for service in self.started):
            return
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=environ["S3_ENDPOINT_URL"],
            aws_access_key_id=environ["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=environ["AWS_SECRET_ACCESS_KEY"],
            region_name=environ["AWS_DEFAULT_REGION"],
        )
        client.create_bucket(Bucket=environ.get("ARCHIVE_BUCKET", "log-archive"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devservices.localservices", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("exec", help="run a command with the services started")
    run.add_argument("--services", default=",".join(ALL_SERVICES))
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("exec needs a command after --")

    services = LocalServices(tuple(n for n in args.services.split(",") if n))
    with services:
        for service in services.started:
            print(f"Started {service.name}: {service.env}", file=sys.stderr)
        child = subprocess.Popen(command, env={**os.environ, **services.env})
        try:
            return child.wait()
        except KeyboardInterrupt:
            # The terminal sent SIGINT to the child too; give it time to stop cleanly.
            try:
                return child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                return child.wait()


if __name__ == "__main__":
    sys.exit(main())
