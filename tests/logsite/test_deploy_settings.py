"""Production settings, checked in fresh processes with a production environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]

# What an operator sets (see .env.example); the services' URLs come from the test env.
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "Zx8v2Q-not-a-real-key-but-long-and-random-enough-for-check-deploy-4hT9",
    "METRICS_TOKEN": "scrape-token-for-the-production-settings",
    "ALLOWED_HOSTS": "logs.example.com",
    "DATABASE_URL": "postgres://logretrieval:unused@db.example.com:5432/logretrieval",
    "LOG_FORMAT": "json",
}


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    # The test plugin turns HTTPS_ONLY off; production leaves the default unless a test sets it.
    environ = {**{k: v for k, v in os.environ.items() if k != "HTTPS_ONLY"}, **PRODUCTION_ENV, **env}
    return subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env=environ, capture_output=True, text=True, timeout=120
    )


def run_django(code: str, **env: str) -> subprocess.CompletedProcess:
    setup = "import django; django.setup()\n"
    return run(["-c", setup + code], DJANGO_SETTINGS_MODULE="logsite.settings", **env)


def test_check_deploy_is_clean_with_production_settings():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])

    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_when_https_is_turned_off():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], HTTPS_ONLY="false")

    assert result.returncode != 0
    assert "SESSION_COOKIE_SECURE" in result.stderr


def test_postgresql_comes_from_database_url():
    result = run_django("from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])")

    assert result.stdout.strip() == "django.db.backends.postgresql", result.stderr


def test_plain_http_is_redirected_but_probes_and_scrapes_are_not():
    code = """
from django.test import Client
client = Client(HTTP_HOST="logs.example.com")
login = client.get("/admin/login/")
print(login.status_code, login["Location"])
print(client.get("/metrics", headers={"Authorization": "Bearer scrape-token-for-the-production-settings"}).status_code)
secure = client.get("/admin/login/", secure=True)
print(secure.status_code, secure.cookies["csrftoken"]["secure"], secure["Strict-Transport-Security"])
"""
    result = run_django(code)

    assert result.returncode == 0, result.stderr
    redirect, scrape, secure = result.stdout.splitlines()
    assert redirect == "301 https://logs.example.com/admin/login/"
    assert scrape == "200"
    assert secure == "200 True max-age=31536000; includeSubDomains; preload"


def test_probes_and_scrapes_by_pod_ip_are_answered_but_other_pages_need_an_allowed_host():
    code = """
from django.test import Client
client = Client(HTTP_HOST="10.1.2.3:8000")
scrape = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-for-the-production-settings"})
print(scrape.status_code, client.get("/admin/login/", secure=True).status_code)
"""
    result = run_django(code)

    assert result.stdout.strip() == "200 400", result.stderr


def test_behind_a_tls_proxy_the_forwarded_proto_counts_as_https():
    code = """
from django.test import Client
print(Client(HTTP_HOST="logs.example.com").get("/admin/login/", HTTP_X_FORWARDED_PROTO="https").status_code)
"""
    assert run_django(code, TRUST_X_FORWARDED_PROTO="true").stdout.strip() == "200"
    assert run_django(code).stdout.strip() == "301"


def test_app_logs_are_one_json_object_a_line():
    code = """
import logging
logging.getLogger("archive.tasks").warning("archived %d logs", 12, extra={"day": "2026-01-02"})
"""
    result = run_django(code)

    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["level"] == "WARNING"
    assert line["logger"] == "archive.tasks"
    assert line["message"] == "archived 12 logs"
    assert line["day"] == "2026-01-02"
    assert line["time"].endswith("+00:00")


def test_an_unknown_log_format_is_refused():
    result = run_django("", LOG_FORMAT="xml")

    assert result.returncode != 0
    assert "LOG_FORMAT must be 'text' or 'json'" in result.stderr


def test_the_app_refuses_to_start_with_debug_off_and_no_metrics_token():
    result = run(["manage.py", "check"], METRICS_TOKEN="")

    assert result.returncode != 0
    assert "METRICS_TOKEN must be set when DEBUG is off" in result.stderr


def test_with_debug_on_the_metrics_token_may_be_left_out():
    result = run(["manage.py", "check"], METRICS_TOKEN="", DEBUG="true")

    assert result.returncode == 0, result.stderr
