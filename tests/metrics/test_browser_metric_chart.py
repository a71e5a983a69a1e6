"""The model-metrics page (/charts) in a real browser (Debian's Chromium, headless, Playwright), at 1366 and 390 px:
no serious axe violation in either colour scheme, no sideways scroll of the page on a phone, nothing loaded from
outside the app, and the README's screenshot. Three users' models, Recall every hour for two days."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import expect

from retrieval import hotstore
from retrieval.demo import drifting_value
from tests.cold_archive import log

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(databases=["default", "logs"], transaction=True),
    pytest.mark.usefixtures("metric_names"),
]

START = datetime(2023, 8, 26, tzinfo=UTC)
MODELS = {1: ("bert", "resnet"), 2: ("bert",), 3: ("xgboost",)}
CHART = "/charts?name=Recall&from=2023-08-26&to=2023-08-28&step=2h"
VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "metrics.png"


def metric_logs() -> list[dict]:
    return [
        log(
            START + timedelta(hours=hour, minutes=minute),
            user_id=user_id,
            message=f"Validated {model}. Recall: {drifting_value(user_id, model, 'Recall', START + timedelta(hours=hour), minute / 60):.4f}",
            logger="demo.trainer",
            context={"model": model},
        )
        for user_id, models in MODELS.items()
        for model in models
        for hour in range(48)
        for minute in (5, 35)
    ]


@pytest.fixture
def session_cookie(logs_db) -> dict:
    # Before the browser starts: Playwright's sync API runs an event loop, and the ORM refuses to run inside one.
    hotstore.insert(metric_logs())
    client = Client()
    client.force_login(User.objects.create(username="engineer", is_staff=True, is_superuser=True))
    return {"name": "sessionid", "value": client.cookies["sessionid"].value}


@pytest.fixture
def tabs(session_cookie, chromium, live_server):
    """A tab per viewport (1366 px, then 390 px), on one browser and one seeded database."""

    def each():
        for name, size in VIEWPORTS.items():
            context = chromium.new_context(viewport=size)
            context.add_cookies([{**session_cookie, "url": live_server.url}])
            tab = context.new_page()
            tab.set_default_timeout(10_000)
            tab.base = live_server.url
            try:
                yield name, tab
            finally:
                context.close()

    return each


def violations(axe, page) -> list:
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in axe.run(page, options={"resultTypes": ["violations"]}).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_the_chart_and_the_rows_chips_have_no_serious_accessibility_violation_and_fit_a_phone(tabs):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    found = {}
    for name, page in tabs():
        page.goto(page.base + CHART)
        expect(page.locator("#chart svg polyline")).to_have_count(4)
        expect(page.locator("#points tbody tr")).to_have_count(4 * 24)
        # The page never scrolls sideways (the table scrolls in its own box).
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            found[name, scheme] = violations(axe, page)
        # A point opens the logs of its step in the explorer, where each log's metric is a chip back to its chart.
        page.emulate_media(color_scheme="light")
        href = page.locator("#points tbody a").first.get_attribute("href")
        page.goto(page.base + href)
        expect(page.locator("#results tbody tr")).to_have_count(4)  # user 1's bert: two logs an hour
        expect(page.locator("#results ul.metric-chips a")).to_have_count(4)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            found[name, "rows", scheme] = violations(axe, page)
        page.emulate_media(color_scheme="light")
        page.locator("#results ul.metric-chips a").first.click()
        expect(page.locator("#chart svg polyline")).to_have_count(1)  # user 1's bert, a day either side
    assert found == {key: [] for key in found}


def test_the_chart_page_loads_nothing_from_outside_the_app(tabs):
    failed, remote = [], []

    def only_loopback(route):
        if urlsplit(route.request.url).hostname in ("localhost", "127.0.0.1", "::1"):
            route.continue_()
        else:
            remote.append(route.request.url)
            route.abort()

    for _, page in tabs():
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.route("**/*", only_loopback)
        page.goto(page.base + CHART)
        expect(page.locator("#chart svg polyline").first).to_be_visible()
        # charts.css applied: each series drawn in its own colour, not the default black fill.
        strokes = page.eval_on_selector_all("#chart svg polyline", "ls => ls.map((l) => getComputedStyle(l).stroke)")
        assert len(set(strokes)) == 4 and "none" not in strokes
        assert page.eval_on_selector("#chart svg polyline", "l => getComputedStyle(l).fill") == "none"
        assert failed == [] and remote == []


def test_readme_screenshot_of_the_metrics_page(tabs):
    tab = tabs()
    _, page = next(tab)
    page.goto(page.base + CHART)
    expect(page.locator("#chart svg polyline").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOT))  # the first screen: the form and the chart
    tab.close()
    assert SCREENSHOT.stat().st_size < 300_000
