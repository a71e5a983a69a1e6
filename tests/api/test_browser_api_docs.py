"""/api/docs/ renders offline: Swagger UI comes from the app's own static files (drf-spectacular-sidecar)."""

from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-test-password-for-docs"


@pytest.fixture
def engineer():
    # Before the browser starts: Playwright's sync API runs an event loop, and the ORM refuses to run inside one.
    User.objects.create_user("engineer", password=PASSWORD)


def test_swagger_ui_renders_the_operations_with_every_non_loopback_request_blocked(live_server, engineer, chromium):
    page = chromium.new_page()
    blocked: list[str] = []

    def only_loopback(route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    page.goto(f"{live_server.url}/api/docs/")
    assert "/accounts/login/" in page.url  # the docs need a login (API_DOCS_PUBLIC off)
    page.fill("#id_username", "engineer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/api/docs/")

    operation = page.locator(".opblock-get", has=page.locator(".opblock-summary-path", has_text="/api/v1/logs"))
    operation.first.wait_for(state="visible", timeout=15_000)
    assert page.locator(".opblock-post .opblock-summary-path", has_text="/api/v1/logs").is_visible()
    assert blocked == []
