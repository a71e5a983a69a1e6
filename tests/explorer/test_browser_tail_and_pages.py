"""The explorer in a real browser: the live tail, layout on a phone, pages without JavaScript, accessibility,
assets served offline, and the README's screenshot (seeding and tabs as in test_browser_explorer.py)."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.explorer.browser_support import (
    DAY_SEARCH,
    VIEWPORTS,
    chart_loaded,
    fits_the_screen,
    hot_logs,
    query,
    store_hot,
    with_ids,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=["default", "logs"], transaction=True)]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "explorer.png"


def test_live_tail_catches_up_at_once_keeps_a_bounded_table_pauses_and_waits_when_busy(logs_db, tabs, settings):
    # Polls two minutes apart: a row that shows up within the waits below came from polling again at
    # once after a full page, from Resume, or from scrolling back to the newest rows.
    settings.TAIL_POLL_SECONDS = 120
    now = datetime.now(UTC).replace(microsecond=0)
    recent = [
        {"timestamp": now - timedelta(minutes=1, seconds=i), "user_id": 9, "level": "info", "message": f"Recent {i}"}
        for i in range(3)
    ]
    store_hot(with_ids(recent, 5000))
    for index, (viewport, page) in enumerate(tabs()):
        page.goto(page.base + "/?from=now-1h&page_size=2")
        rows = page.locator("#results tbody tr")
        expect(rows).to_have_count(2)
        assert page.locator("#tail-bar").is_hidden()

        # Five logs, then the tail: pages of 2, 2 and 1, asked for one after the other, in a table of at most 6.
        arrived = {"timestamp": datetime.now(UTC), "user_id": 7, "level": "error", "logger": "t"}
        burst = [{**arrived, "message": f"Burst {n} at {viewport}"} for n in range(5)]
        store_hot(with_ids(burst, 6000 + 10 * index))
        page.locator("#live-tail").evaluate("box => { box.dataset.maxRows = '6'; }")
        page.check("#live-tail")
        expect(page.locator("#tail-new")).to_have_text("5 new", timeout=15_000)
        expect(page.locator("#tail-state")).to_have_text("Live")
        expect(rows).to_have_count(6)  # the page's oldest row went
        assert [rows.nth(n).locator("td.message").inner_text().split("\n")[0] for n in range(5)] == [
            f"Burst {n} at {viewport}" for n in (4, 3, 2, 1, 0)
        ]
        # The searched rows' markup: drill-down links, the local-time switch's <time>.
        assert rows.first.locator("a[aria-label='Only user 7']").count() == 1
        assert rows.first.locator("td.time time[datetime]").count() == 1

        # Paused by its button (the bar stays in sight), and on again from where it stopped.
        page.click("#tail-pause")
        expect(page.locator("#tail-state")).to_have_text("Paused")
        store_hot(with_ids([{**arrived, "message": f"While paused at {viewport}"}], 6100 + index))
        page.click("#tail-pause")
        expect(rows.first).to_contain_text(f"While paused at {viewport}", timeout=15_000)
        expect(page.locator("#tail-new")).to_have_text("6 new")

        # Scrolled away from the newest rows: paused (said so), and on again back at them.
        page.evaluate("document.body.style.minHeight = '5000px'; window.scrollTo(0, 2000)")
        expect(page.locator("#tail-state")).to_have_text("Paused", timeout=15_000)
        assert page.locator("#tail-bar").evaluate("bar => getComputedStyle(bar).position") == "sticky"
        store_hot(with_ids([{**arrived, "message": f"While away at {viewport}"}], 6200 + index))
        page.evaluate("window.scrollTo(0, 0)")
        expect(rows.first).to_contain_text(f"While away at {viewport}", timeout=15_000)

        # A busy server (429) is asked again after its Retry-After, not at once.
        page.route("**/tail?*", lambda route: route.fulfill(status=429, headers={"Retry-After": "7"}))
        page.click("#tail-pause")
        page.click("#tail-pause")
        expect(page.locator("#tail-status")).to_have_text("Server busy: trying again in 7 s.", timeout=15_000)


def test_the_live_tail_is_offered_only_for_a_range_that_runs_to_now(desktop_page):
    page = desktop_page
    page.goto(page.base + "/?date=2026-11-28")
    assert page.is_disabled("#live-tail")
    assert "runs to now" in page.inner_text("#tail-switch")
    page.goto(page.base + "/?from=now-15m")
    assert page.is_enabled("#live-tail")


def test_rows_come_before_the_histogram_pages_fit_the_screen_and_a_phone_shows_results_first(tabs):
    for viewport, page in tabs():
        # The histogram held back (never answered): the rows are shown all the same.
        page.route("**/histogram?*", lambda route: None)
        page.goto(page.base + DAY_SEARCH)
        expect(page.locator("#results tbody tr")).to_have_count(100)
        assert page.get_attribute("#histogram", "aria-busy") == "true" and page.inner_text("#position") == "1–100"
        page.unroute("**/histogram?*")
        page.reload()
        chart_loaded(page)
        if viewport == "phone":
            # The form folded away: the results start on the first screen.
            assert not page.locator("#search-form").evaluate("d => d.open")
            assert page.locator("#results").bounding_box()["y"] < VIEWPORTS["phone"]["height"]
        assert fits_the_screen(page)
        logout = page.locator("header.site button:text-is('Log out')")
        assert logout.bounding_box()["height"] < 24
        if viewport == "phone":
            assert page.evaluate("getComputedStyle(document.querySelector('#results tr')).display") == "block"
        first = page.locator("#results tbody tr").first
        first.locator("summary").click()
        assert fits_the_screen(page)


def test_search_paging_and_links_work_without_javascript(tabs):
    for viewport, page in tabs():
        context = page.context.browser.new_context(viewport=VIEWPORTS[viewport], java_script_enabled=False)
        context.add_cookies(page.context.cookies())
        plain = context.new_page()
        plain.goto(page.base + "/")
        plain.fill("#id_date", "2023-08-27")
        plain.fill("#id_page_size", "150")
        plain.click("form.search button[type=submit]")
        expect(plain.locator("#results tbody tr")).to_have_count(150)
        plain.click("#next-page")
        assert plain.inner_text("#position") == "151–300"  # the total is the framed histogram's
        chart = plain.frame_locator("#histogram iframe")
        expect(chart.locator("#total-in-range")).to_have_text("380 logs in range")
        chart.locator("svg a[data-start]").nth(3).click()
        plain.wait_for_url(re.compile("from="))  # the frame's link opens in the page
        assert query(plain.url)["from"] == ["2023-08-27T01:30:00.000000Z"]
        assert plain.locator("#tz-switch").is_hidden() and plain.locator("#tail-switch").is_hidden()
        context.close()


def test_explorer_pages_have_no_serious_accessibility_violation_in_light_or_dark_mode(tabs):
    for _, page in tabs():
        from axe_playwright_python.sync_playwright import Axe

        axe = Axe()
        # Debug switched off: the legend's off badges are checked too.
        search = DAY_SEARCH + "&user_id=4&page_size=20&level=info,warning,error,critical"
        page.goto(page.base + search)
        chart_loaded(page)
        # User 300's only log: a short "around" page (axe's cost grows with the page).
        log_id = str(next(log["_id"] for log in hot_logs() if log["user_id"] == 300))
        found = {}
        for url in (search, f"/logs/{log_id}", f"/logs/{log_id}/around"):
            if url != search:
                page.goto(page.base + url)
            page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                found[url, scheme] = [
                    (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                    for v in axe.run(page, options={"resultTypes": ["violations"]}).response["violations"]
                    if v["impact"] in ("serious", "critical")
                ]
        assert found == {key: [] for key in found}


def test_pages_render_offline_with_every_asset_from_the_app(tabs):
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
        page.goto(page.base + DAY_SEARCH + "&user_id=4")
        log_id = page.locator("#results tbody tr").first.get_attribute("data-id")
        for url in (DAY_SEARCH + "&user_id=4", f"/logs/{log_id}", f"/logs/{log_id}/around"):
            page.goto(page.base + url)
            if url.startswith("/?"):
                chart_loaded(page)  # its request done before the next page
            assert page.get_attribute("html", "data-js") == "ready", url
            assert page.get_attribute("#tz-switch", "hidden") is None, url  # JS un-hides it (folded away on phones)
            assert page.evaluate("getComputedStyle(document.body).margin") == "0px", url  # explorer.css applied
        page.context.clear_cookies()
        page.goto(page.base + "/")
        assert "/accounts/login/" in page.url and page.get_attribute("html", "data-js") == "ready"
        assert failed == [] and remote == []


def test_readme_screenshot_of_the_search_page(desktop_page):
    page = desktop_page
    page.goto(page.base + "/?from=2023-08-27T00:00:00Z&to=2023-08-27T12:00:00Z&page_size=12")
    page.locator("#results tbody tr").nth(1).locator("summary").click()
    chart_loaded(page)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size < 300_000
