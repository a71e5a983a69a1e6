"""The local PostgreSQL of devservices: Debian's server, one cluster per checkout, and its two databases.

As root, PostgreSQL runs as the `postgres` system user, and its cluster lives where that user can
reach it whatever folder the checkout is in (`_cluster_dir`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from devservices.processes import LocalService, free_port, postgresql_answers, spawn, wait_or_stop

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
    process, _, log_path = spawn(
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
    wait_or_stop(service, lambda: postgresql_answers(f"{address}/postgres"))
    try:
        _create_databases(address, (SQL_DATABASE, FERRETDB_DATABASE))
    except BaseException:
        service.stop()
        raise
    return service
