import os
import pwd
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pymongo
import pytest

from devservices import pytest_plugin
from devservices.localservices import BASE_DIR, LocalServices, start_redis
from devservices.postgresql import POSTGRESQL_DATA_BASE, delete_service_data, postgresql_bin_dir
from devservices.processes import mongodb_answers, postgresql_answers, redis_answers


@pytest.fixture
def tmp_path(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A folder inside this run's service data: PostgreSQL's system user (as root) cannot reach pytest's tmp_path."""
    path = pytest_plugin._services.data_root / "localservices" / request.node.name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    yield path
    for data_root in path.iterdir():  # and root's clusters kept outside them
        delete_service_data(data_root)
    shutil.rmtree(path, ignore_errors=True)


def ferretdb_tables(address: str) -> list[str]:
    """Tables FerretDB's PostgreSQL handler made in the `ferretdb` database (one schema per MongoDB database)."""
    with psycopg.connect(f"{address}/ferretdb") as connection:
        rows = connection.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        return sorted({row[0] for row in rows})


def test_local_services_start_real_servers_and_stop_them_on_exit(tmp_path: Path) -> None:
    services = LocalServices(names=("postgresql", "mongodb", "redis"), data_root=tmp_path / "svc", ephemeral=True)
    env = services.start(environ={})  # as on a machine where nothing is configured
    try:
        assert env["DATABASE_URL"].startswith("postgres://postgres@127.0.0.1:")
        assert env["DATABASE_URL"].endswith("/logretrieval")
        assert postgresql_answers(env["DATABASE_URL"])
        assert mongodb_answers(env["MONGODB_URI"])
        assert redis_answers(env["REDIS_URL"])
        client = pymongo.MongoClient(env["MONGODB_URI"])
        client.probe.items.insert_one({"n": 1})
        assert client.probe.items.count_documents({}) == 1
        client.close()
        postgresql = services.started[0]
        assert postgresql.name == "postgresql"
        # FerretDB keeps the logs in the same cluster, database `ferretdb`.
        assert "probe" in ferretdb_tables(postgresql.address)
        processes = [service.process for service in services.started]
    finally:
        services.stop()

    assert all(process.poll() is not None for process in processes)
    assert processes[0].returncode == 0  # PostgreSQL shut down, not killed
    with pytest.raises(pymongo.errors.PyMongoError):
        mongodb_answers(env["MONGODB_URI"])
    with pytest.raises(psycopg.OperationalError):
        postgresql_answers(env["DATABASE_URL"])
    assert not (tmp_path / "svc").exists()


def test_the_run_commands_postgresql_cluster_is_kept_and_reused(tmp_path: Path) -> None:
    def start() -> tuple[LocalServices, dict[str, str]]:
        services = LocalServices(names=("postgresql",), data_root=tmp_path / "run")
        return services, services.start(environ={})

    services, env = start()
    try:
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as connection:
            connection.execute("CREATE TABLE kept (n int)")
            connection.execute("INSERT INTO kept VALUES (7)")
    finally:
        services.stop()
    pgdata = tmp_path / "run" / "postgresql" / "data"
    assert (pgdata / "PG_VERSION").read_text().strip() == postgresql_bin_dir().parent.name
    assert not (pgdata / "postmaster.pid").exists()  # stopped cleanly
    log = (tmp_path / "run" / "postgresql" / "server.log").read_text()
    assert "received fast shutdown request" in log and "database system is shut down" in log

    services, env = start()
    try:
        with psycopg.connect(env["DATABASE_URL"]) as connection:
            assert connection.execute("SELECT n FROM kept").fetchall() == [(7,)]
    finally:
        services.stop()


def test_ferretdb_runs_on_sqlite_with_ferretdb_handler_sqlite_and_an_old_state_dir_does_not_matter(
    tmp_path: Path,
) -> None:
    root = tmp_path / "run"
    sqlite_only = LocalServices(names=("mongodb",), data_root=root)
    env = sqlite_only.start(environ={"FERRETDB_HANDLER": "sqlite"})
    try:
        assert [service.name for service in sqlite_only.started] == ["mongodb"]  # no PostgreSQL needed
        client = pymongo.MongoClient(env["MONGODB_URI"])
        client.probe.items.insert_one({"n": 1})
        client.close()
    finally:
        sqlite_only.stop()
    assert (root / "mongodb" / "probe.sqlite").exists()

    # The same folder, now on the default PostgreSQL handler: starts, and the logs live in PostgreSQL.
    on_postgresql = LocalServices(names=("mongodb",), data_root=root)
    env = on_postgresql.start(environ={})
    try:
        assert [service.name for service in on_postgresql.started] == ["postgresql", "mongodb"]
        assert "DATABASE_URL" not in env  # not asked for: FerretDB alone uses this PostgreSQL
        client = pymongo.MongoClient(env["MONGODB_URI"])
        assert client.probe.items.count_documents({}) == 0
        client.probe.items.insert_one({"n": 2})
        client.close()
        assert "probe" in ferretdb_tables(on_postgresql.started[0].address)
    finally:
        on_postgresql.stop()


def test_an_unknown_ferretdb_handler_is_refused(tmp_path: Path) -> None:
    services = LocalServices(names=("mongodb",), data_root=tmp_path / "svc", ephemeral=True)
    with pytest.raises(ValueError, match="FERRETDB_HANDLER"):
        services.start(environ={"FERRETDB_HANDLER": "mysql"})
    assert services.started == []


def test_local_services_leave_a_configured_service_alone(tmp_path):
    own_redis = start_redis(tmp_path / "own")
    try:
        services = LocalServices(names=("redis",), data_root=tmp_path / "svc")
        services.start(environ={"REDIS_URL": own_redis.env["REDIS_URL"]})
        assert services.started == [] and services.env == {}
        services.stop()

        assert own_redis.running and redis_answers(own_redis.env["REDIS_URL"])
    finally:
        own_redis.stop()


def test_local_s3_server_comes_with_the_archive_bucket(tmp_path):
    import boto3

    services = LocalServices(names=("s3",), data_root=tmp_path / "svc", ephemeral=True)
    env = services.start(environ={})
    try:
        client = boto3.client(
            "s3",
            endpoint_url=env["S3_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        assert "log-archive" in [bucket["Name"] for bucket in client.list_buckets()["Buckets"]]
    finally:
        services.stop()


@pytest.fixture
def private_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder only its owner can enter (mode 700), as root's home is: not pytest's shared tmp base."""
    path = tmp_path_factory.mktemp("private")
    path.chmod(0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def data_directory(database_url: str) -> Path:
    with psycopg.connect(database_url) as connection:
        return Path(connection.execute("SHOW data_directory").fetchone()[0])


SERVICE_URLS = ("DATABASE_URL", "MONGODB_URI", "FERRETDB_POSTGRESQL_URL", "REDIS_URL", "CELERY_BROKER_URL", "VAR_DIR")


def test_the_run_commands_postgresql_starts_from_a_clone_in_a_private_folder(private_folder: Path) -> None:
    """`make run` as root from a checkout in /root (mode 700): PostgreSQL runs as `postgres`, which cannot enter it."""
    clone = private_folder / "home" / "logretrieval"
    clone.parent.mkdir(mode=0o700)
    # The checkout's service starter as it is in this working tree (a git clone would take the last commit's).
    shutil.copytree(BASE_DIR / "devservices", clone / "devservices", ignore=shutil.ignore_patterns("__pycache__"))
    probe = (
        "import os, psycopg; "
        "connection = psycopg.connect(os.environ['DATABASE_URL']); "
        "print(connection.execute('SHOW data_directory').fetchone()[0]); "
        "print(connection.execute('SELECT current_database()').fetchone()[0])"
    )
    environ = {name: value for name, value in os.environ.items() if name not in SERVICE_URLS}
    result = subprocess.run(
        [sys.executable, "-m", "devservices.localservices", "exec", "--services", "postgresql", "--",
         sys.executable, "-c", probe],
        cwd=clone, env=environ, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    served_from, database = result.stdout.split()
    assert database == "logretrieval"
    link = clone / "var" / "services" / "run" / "postgresql" / "data"
    try:
        assert link.resolve() == Path(served_from).resolve()
        assert (link / "PG_VERSION").exists() and not (link / "postmaster.pid").exists()  # kept, stopped cleanly
        if os.geteuid() == 0:
            outside = Path(served_from)
            assert link.is_symlink() and not outside.is_relative_to(private_folder)
            assert outside.parent == POSTGRESQL_DATA_BASE
            info = outside.stat()
            assert (pwd.getpwuid(info.st_uid).pw_name, stat.S_IMODE(info.st_mode)) == ("postgres", 0o700)
            # Deleting the checkout's var/ starts afresh: the next start of any checkout deletes the orphan.
            shutil.rmtree(clone / "var")
            other = LocalServices(names=("postgresql",), data_root=private_folder / "other", ephemeral=True)
            other.start(environ={})
            other.stop()
            assert not outside.exists()
    finally:
        delete_service_data(clone / "var" / "services" / "run")


def test_two_checkouts_never_share_a_cluster_or_a_port(private_folder: Path) -> None:
    first = LocalServices(
        names=("postgresql",), data_root=private_folder / "a" / "var" / "services" / "run", ephemeral=True
    )
    second = LocalServices(
        names=("postgresql",), data_root=private_folder / "b" / "var" / "services" / "run", ephemeral=True
    )
    first_env = first.start(environ={})
    try:
        second_env = second.start(environ={})
        try:
            assert first_env["DATABASE_URL"] != second_env["DATABASE_URL"]  # other ports
            directories = data_directory(first_env["DATABASE_URL"]), data_directory(second_env["DATABASE_URL"])
            assert directories[0] != directories[1]
            with psycopg.connect(first_env["DATABASE_URL"], autocommit=True) as connection:
                connection.execute("CREATE TABLE only_in_first (n int)")
            with psycopg.connect(second_env["DATABASE_URL"]) as connection:
                found = connection.execute("SELECT to_regclass('only_in_first')").fetchone()[0]
                assert found is None
        finally:
            second.stop()
    finally:
        first.stop()
    assert not any(directory.exists() for directory in directories)  # throw-away clusters go, outside ones too
