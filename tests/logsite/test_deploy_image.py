"""What the image runs, run here without Docker: collectstatic, then gunicorn with gunicorn.conf.py."""

import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.app_server import AppServer

BASE_DIR = Path(__file__).resolve().parents[2]


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (BASE_DIR / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_dockerfile_is_slim_non_root_gunicorn_with_a_healthz_healthcheck():
    instructions = dockerfile_instructions()
    values = {}
    for name, value in instructions:
        values.setdefault(name, []).append(value)

    assert re.fullmatch(r"python:3\.11-slim\S*", values["FROM"][0])
    assert values["USER"] == ["10001"]  # numeric and not root, so runAsNonRoot can check it
    assert "/healthz" in values["HEALTHCHECK"][0]
    assert values["CMD"][-1] == '["gunicorn", "logsite.wsgi"]'
    assert any("collectstatic" in run for run in values["RUN"])
    assert "requirements/base.txt" in values["COPY"][0]  # no test tools in the image
    ignored = (BASE_DIR / ".dockerignore").read_text().split()
    # No secrets, no local state, and no development tooling (local servers, pytest plugin) in the image.
    assert {".env", ".git", ".venv", "var", "tests", "devservices"} <= set(ignored)


@pytest.fixture
def gunicorn(tmp_path, db):
    """The image's CMD on a free port, with production settings and the test services."""
    server = AppServer(
        tmp_path,
        DEBUG="false",
        SECRET_KEY="gunicorn-test-key-long-enough-and-random-enough-for-the-checks-0f3a9",
        ALLOWED_HOSTS="logs.example.com",
        TRUST_X_FORWARDED_PROTO="true",
        LOG_FORMAT="json",
        HTTPS_ONLY=None,  # its production default: on
    )
    # As the Dockerfile does at build time (staticfiles/ is git-ignored).
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=BASE_DIR,
        env=server.env,
        check=True,
        timeout=120,
    )
    try:
        server.start()
        yield server.base
    finally:
        server.stop()


def get(url: str, **headers: str):
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        return error


def test_gunicorn_serves_healthz_metrics_and_static_files_like_the_container(gunicorn):
    # The container's HEALTHCHECK: plain HTTP to 127.0.0.1, which is not an allowed host.
    assert get(f"{gunicorn}/healthz").status == 200

    static = get(f"{gunicorn}/static/admin/css/base.css", Host="logs.example.com", **{"X-Forwarded-Proto": "https"})
    assert static.status == 200
    assert static.headers["Content-Type"].startswith("text/css")

    # Without the proxy's header a page is redirected to HTTPS.
    page = urllib.request.build_opener(NoRedirect).open(
        urllib.request.Request(f"{gunicorn}/admin/login/", headers={"Host": "logs.example.com"})
    )
    assert page.status == 301
    assert page.headers["Location"] == "https://logs.example.com/admin/login/"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def http_error_301(self, req, fp, code, msg, headers):
        return fp
