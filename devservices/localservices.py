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
import hashlib
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
ALL_SERVICES = ("postgresql", "mongodb", "s3", "redis")
FERRETDB_HANDLERS = ("postgresql", "sqlite")
# The local cluster's superuser (initdb --username) and its two databases.
POSTGRES_USER = "postgres"
SQL_DATABASE = "logretrieval"
FERRETDB_DATABASE = "ferretdb"
# PostgreSQL refuses to run as root; as root the cluster belongs to the system user
# Debian's package creates.
POSTGRES_SYSTEM_USER = "postgres"
# Where root keeps PostgreSQL's clusters, one folder per checkout (or test run): a folder the
# `postgres` user can traverse whatever folder the checkout is in (see _cluster_dir).
POSTGRESQL_DATA_BASE = Path(os.environ.get("POSTGRESQL_DATA_BASE") or "/var/tmp/logretrieval-postgresql")
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


def _spawn(
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


def postgresql_bin_dir() -> Path:
    """The newest PostgreSQL installed by Debian (/usr/lib/postgresql/<major>/bin), else `pg_ctl` on PATH."""
    installed = [
        path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/postgres") if path.parent.parent.name.isdigit()
    ]
    if installed:
        return max(installed, key=lambda bin_dir: int(bin_dir.parent.name))
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).resolve().parent
    raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")


def _server_user_prefix() -> list[str]:
    """Run PostgreSQL's programs as the `postgres` system user when we are root (it refuses root)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={POSTGRES_SYSTEM_USER}", f"--regid={POSTGRES_SYSTEM_USER}", "--init-groups", "--"]


def _postgres_can_write(prefix: list[str], path: Path) -> bool:
    return subprocess.run([*prefix, "test", "-w", str(path)], capture_output=True).returncode == 0


def _outside_data_dir(service_dir: Path) -> Path:
    """The cluster's folder outside the checkout, for root: one per `service_dir`, keyed by a hash of its path.

    Under POSTGRESQL_DATA_BASE (world-traversable, root's, mode 711); the folder itself is
    the `postgres` user's, mode 700. Two checkouts, or two test runs of one checkout, have
    different `service_dir`s and so never share a cluster.
    """
    base = POSTGRESQL_DATA_BASE
    base.mkdir(mode=0o711, parents=True, exist_ok=True)
    info = base.lstat()
    if base.is_symlink() or info.st_uid != 0 or info.st_mode & 0o022:
        raise RuntimeError(f"{base} must be a folder of root's that no one else can write (found: not so)")
    key = hashlib.sha256(str(service_dir.resolve()).encode()).hexdigest()[:16]
    return base / key


def _delete_orphan_clusters() -> None:
    """Delete the clusters under POSTGRESQL_DATA_BASE whose checkout's link is gone (its `var/` deleted).

    Each cluster `<hash>` has a note `<hash>.checkout` naming the link that points at it.
    """
    for note in POSTGRESQL_DATA_BASE.glob("*.checkout"):
        cluster = note.with_suffix("")
        link = Path(note.read_text())
        if not (link.is_symlink() and Path(os.readlink(link)) == cluster):
            shutil.rmtree(cluster, ignore_errors=True)
            note.unlink(missing_ok=True)


def delete_service_data(data_root: Path) -> None:
    """Delete `data_root` and a PostgreSQL cluster kept outside it (as root; see _cluster_dir)."""
    link = data_root / "postgresql" / "data"
    if link.is_symlink():
        outside = Path(os.readlink(link))
        if outside.parent == POSTGRESQL_DATA_BASE:
            shutil.rmtree(outside, ignore_errors=True)
            outside.with_name(outside.name + ".checkout").unlink(missing_ok=True)
    shutil.rmtree(data_root, ignore_errors=True)


def _cluster_dir(service_dir: Path) -> Path:
    """Where the cluster lives.

    Not root: `<service_dir>/data`. As root PostgreSQL runs as the `postgres` system user,
    which cannot reach a checkout in a private folder (`/root/...`, mode 700): the cluster
    lives in `_outside_data_dir(service_dir)`, and `<service_dir>/data` is a symbolic link
    to it. A cluster already kept in `<service_dir>/data` (a real folder the user reaches)
    stays there. With the link gone (`var/` deleted) an old cluster outside is deleted too:
    deleting `var/` starts afresh, as before.
    """
    link = service_dir / "data"
    prefix = _server_user_prefix()
    if not prefix:
        return link
    if not link.is_symlink() and (link / "PG_VERSION").exists():
        if not _postgres_can_write(prefix, link):
            raise RuntimeError(
                f"{link} holds a PostgreSQL cluster that the {POSTGRES_SYSTEM_USER} system user cannot reach "
                f"(a parent folder is private): delete {link} (its SQL data and FerretDB's logs go with it) and "
                f"the next start keeps a new cluster under {POSTGRESQL_DATA_BASE}"
            )
        return link
    outside = _outside_data_dir(service_dir)
    if not (link.is_symlink() and Path(os.readlink(link)) == outside):
        shutil.rmtree(outside, ignore_errors=True)  # not this folder's any more (its link was deleted), or never was
        if link.is_symlink() or link.is_file():
            link.unlink()
        else:
            shutil.rmtree(link, ignore_errors=True)  # a half-made cluster (no PG_VERSION)
        link.symlink_to(outside, target_is_directory=True)
        # After the link, so that another checkout's sweep never takes a cluster for an orphan.
        outside.with_name(outside.name + ".checkout").write_text(str(link))
    _delete_orphan_clusters()
    return outside


def _init_cluster(bin_dir: Path, pgdata: Path) -> None:
    """initdb into `pgdata` unless a cluster of this major version is there already (kept between runs)."""
    major = bin_dir.parent.name if bin_dir.parent.name.isdigit() else None
    version_file = pgdata / "PG_VERSION"
    if version_file.exists():
        found = version_file.read_text().strip()
        if major and found != major:
            raise RuntimeError(
                f"{pgdata} holds a PostgreSQL {found} cluster but PostgreSQL {major} is installed: "
                f"delete {pgdata} to start afresh (its SQL data and FerretDB's logs go with it)"
            )
        return
    shutil.rmtree(pgdata, ignore_errors=True)  # a half-made cluster from an interrupted initdb
    pgdata.mkdir(mode=0o700)
    prefix = _server_user_prefix()
    if prefix:
        shutil.chown(pgdata, POSTGRES_SYSTEM_USER, POSTGRES_SYSTEM_USER)
        if not _postgres_can_write(prefix, pgdata):
            raise RuntimeError(
                f"the {POSTGRES_SYSTEM_USER} system user cannot reach {pgdata} (a parent folder is private); "
                f"POSTGRESQL_DATA_BASE ({POSTGRESQL_DATA_BASE}) must be a folder it can traverse"
            )
    result = subprocess.run(
        [
            *prefix,
            str(bin_dir / "initdb"),
            f"--pgdata={pgdata}",
            f"--username={POSTGRES_USER}",
            "--auth=trust",  # loopback only (listen_addresses) and the socket in the data dir
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        shutil.rmtree(pgdata, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{result.stdout}{result.stderr}")


def _create_databases(address: str, names: tuple[str, ...]) -> None:
    import psycopg

    with psycopg.connect(f"{address}/postgres", autocommit=True) as connection:
        existing = {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                connection.execute(f'CREATE DATABASE "{name}"')


def start_postgresql(data_root: Path, durable: bool = True) -> LocalService:
    """Debian's PostgreSQL on a free loopback port, its cluster in `<data_root>/postgresql/data`.

    The cluster is reused when it is there (the run command keeps it); `durable=False`
    (throw-away test data) turns fsync off.
    """
    bin_dir = postgresql_bin_dir()
    service_dir = data_root / "postgresql"
    service_dir.mkdir(parents=True, exist_ok=True)
    pgdata = _cluster_dir(service_dir)
    _init_cluster(bin_dir, pgdata)
    port = free_port()
    # Clients here use TCP; the socket (for psql -h <data dir>) only where its path fits in
    # a socket address (107 bytes), else none rather than a server that will not start.
    socket_dir = str(pgdata) if len(f"{pgdata}/.s.PGSQL.{port}.lock") < 107 else ""
    settings = [
        "listen_addresses=127.0.0.1",
        f"unix_socket_directories={socket_dir}",
        "max_connections=200",
        "shared_buffers=64MB",
    ]
    if not durable:
        settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
    prefix = _server_user_prefix()
    process, _, log_path = _spawn(
        "postgresql",
        [str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(port), *(f"--{setting}" for setting in settings)],
        data_root,
        command_prefix=prefix,
    )
    address = f"postgres://{POSTGRES_USER}@127.0.0.1:{port}"
    service = LocalService(
        "postgresql",
        process,
        {"DATABASE_URL": f"{address}/{SQL_DATABASE}"},
        log_path,
        address=address,
        stop_command=[*prefix, str(bin_dir / "pg_ctl"), "stop", "-D", str(pgdata), "-m", "fast", "-w", "-t", "30"],
    )
    _wait_or_stop(service, lambda: postgresql_answers(f"{address}/postgres"))
    try:
        _create_databases(address, (SQL_DATABASE, FERRETDB_DATABASE))
    except BaseException:
        service.stop()
        raise
    return service


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
    process, data_dir, log_path = _spawn(
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
