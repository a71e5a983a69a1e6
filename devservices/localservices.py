"""Real local servers for development and tests: PostgreSQL, MongoDB (FerretDB), S3 (moto), Redis.

One piece of code used by the run command, the test command and the pytest
plugin. For each service, the configured URL wins (the service is then neither
started nor stopped); otherwise a real server is started on a free loopback port
with its data under `var/services/`, waited for, and stopped on exit.

PostgreSQL (Debian's `postgresql`) serves two databases of one local cluster:
`logretrieval`, Django's `default` database (exported as DATABASE_URL unless that
is set), and `ferretdb`, the storage of FerretDB's PostgreSQL handler
(FERRETDB_HANDLER=postgresql, the default; `sqlite` keeps FerretDB's data in SQLite
files instead). It is started whenever either needs it. FerretDB's URL of it is
exported as FERRETDB_POSTGRESQL_URL (the app adds a GIN index to FerretDB's tables).

    python -m devservices.localservices exec [--services mongodb,redis] -- CMD ARGS...

runs CMD with the services' URLs in its environment and stops what it started
when CMD ends (or on Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from devservices.postgresql import FERRETDB_DATABASE, delete_service_data, start_postgresql
from devservices.processes import (
    LocalService,
    free_port,
    http_answers,
    mongodb_answers,
    redis_answers,
    spawn,
    wait_or_stop,
)

BASE_DIR = Path(__file__).resolve().parent.parent
BIN_DIR = BASE_DIR / ".local" / "bin"
SERVICES_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var")) / "services"
FERRETDB_VERSION = "v1.24.2"
ALL_SERVICES = ("postgresql", "mongodb", "s3", "redis")
FERRETDB_HANDLERS = ("postgresql", "sqlite")
# moto accepts any credentials; set them so boto3 never looks elsewhere.
MOTO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


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


def ferretdb_handler(environ: dict[str, str] | os._Environ) -> str:
    handler = environ.get("FERRETDB_HANDLER") or "postgresql"
    if handler not in FERRETDB_HANDLERS:
        raise ValueError(f"FERRETDB_HANDLER must be one of {', '.join(FERRETDB_HANDLERS)}, not {handler!r}")
    return handler


def start_mongodb(data_root: Path, postgresql_url: str | None = None) -> LocalService:
    """FerretDB on a free loopback port: on PostgreSQL at `postgresql_url`, else on SQLite files."""
    port, debug_port = free_port(), free_port()
    if postgresql_url:
        storage = ["--handler=postgresql", f"--postgresql-url={postgresql_url}"]
    else:
        storage = ["--handler=sqlite", "--sqlite-url=file:{dir}/"]
    process, data_dir, log_path = spawn(
        "mongodb",
        [
            str(ferretdb_binary()),
            *storage,
            "--state-dir={dir}",
            f"--listen-addr=127.0.0.1:{port}",
            f"--debug-addr=127.0.0.1:{debug_port}",
            "--telemetry=disable",
            "--log-level=warn",
        ],
        data_root,
    )
    uri = f"mongodb://127.0.0.1:{port}/"
    # The app adds a GIN index to FerretDB's tables on PostgreSQL (logsite.mongodb.ferretdb).
    env = {"MONGODB_URI": uri, "FERRETDB_POSTGRESQL_URL": postgresql_url or ""}
    service = LocalService("mongodb", process, env, log_path, address=uri)
    wait_or_stop(service, lambda: mongodb_answers(uri))
    return service


def start_s3(data_root: Path) -> LocalService:
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    process, _, log_path = spawn("s3", [str(moto), "-H", "127.0.0.1", "-p", str(port)], data_root)
    url = f"http://127.0.0.1:{port}"
    service = LocalService("s3", process, {"S3_ENDPOINT_URL": url, **MOTO_CREDENTIALS}, log_path)
    wait_or_stop(service, lambda: http_answers(f"{url}/moto-api/"))
    return service


def start_redis(data_root: Path) -> LocalService:
    port = free_port()
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    process, _, log_path = spawn(
        "redis",
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", "{dir}"],
        data_root,
    )
    url = f"redis://127.0.0.1:{port}/0"
    service = LocalService("redis", process, {"REDIS_URL": url, "CELERY_BROKER_URL": url}, log_path)
    wait_or_stop(service, lambda: redis_answers(url))
    return service


STARTERS = {"s3": start_s3, "redis": start_redis}
CONFIGURED_BY = {"postgresql": "DATABASE_URL", "mongodb": "MONGODB_URI", "s3": "S3_ENDPOINT_URL", "redis": "REDIS_URL"}


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
        wanted = [name for name in self.names if not is_configured(name, environ)]
        try:
            postgresql = None
            ferretdb_on_postgresql = "mongodb" in wanted and ferretdb_handler(environ) == "postgresql"
            if "postgresql" in wanted or ferretdb_on_postgresql:
                postgresql = start_postgresql(self.data_root, durable=not self.ephemeral)
                self.started.append(postgresql)
                if "postgresql" in wanted:  # else DATABASE_URL is configured: FerretDB alone uses it
                    self.env.update(postgresql.env)
            for name in wanted:
                if name == "postgresql":
                    continue
                if name == "mongodb":
                    url = f"{postgresql.address}/{FERRETDB_DATABASE}" if postgresql and ferretdb_on_postgresql else None
                    service = start_mongodb(self.data_root, postgresql_url=url)
                else:
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
            delete_service_data(self.data_root)

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
            print(f"Started {service.name}: {service.env or service.address}", file=sys.stderr)
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
