"""The GitHub Actions workflow: the suite against real MongoDB 7 and 8, PostgreSQL, Redis and an S3 server."""

from pathlib import Path

import yaml

from devservices.localservices import CONFIGURED_BY, is_configured

BASE_DIR = Path(__file__).resolve().parents[2]


def workflow() -> dict:
    return yaml.safe_load((BASE_DIR / ".github" / "workflows" / "ci.yml").read_text())


def test_the_suite_runs_against_mongodb_7_and_8_service_containers():
    test = workflow()["jobs"]["test"]

    assert test["strategy"]["matrix"]["mongodb"] == ["7.0", "8.0"]
    assert test["services"]["mongodb"]["image"] == "mongo:${{ matrix.mongodb }}"
    assert test["env"]["MONGODB_URI"].startswith("mongodb://mongodb:")
    assert "pytest" in test["steps"][-1]["run"]


def test_every_service_is_configured_so_the_plugin_starts_none():
    env = workflow()["jobs"]["test"]["env"]

    assert all(is_configured(name, env) for name in CONFIGURED_BY)
    assert env["DATABASE_URL"].startswith("postgres://postgres@postgres:")
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["S3_ENDPOINT_URL"].startswith("http://s3:")
    services = workflow()["jobs"]["test"]["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["s3"]["image"].startswith("motoserver/moto:")


def test_the_bucket_is_created_before_the_tests():
    steps = [step.get("run", "") for step in workflow()["jobs"]["test"]["steps"]]

    bucket = next(i for i, run in enumerate(steps) if "create_bucket" in run)
    tests = next(i for i, run in enumerate(steps) if "pytest" in run)
    assert bucket < tests


def test_lint_and_types_run_before_the_tests_in_both_ci_entry_points():
    ci_run = (BASE_DIR / ".ci" / "run").read_text().splitlines()
    assert ci_run.index("make check") < ci_run.index("make test")
    makefile = (BASE_DIR / "Makefile").read_text()
    assert "check: lint types" in makefile and "mypy" in makefile and "ruff format --check" in makefile
    assert "make check" in [step.get("run") for step in workflow()["jobs"]["check"]["steps"]]
