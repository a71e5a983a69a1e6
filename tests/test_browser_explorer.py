"""The log explorer in a real browser (Debian's Chromium, headless, Playwright), at 1366 px and at 390 px.

Seeded with 300 users' logs on a hot day and user 4's logs on the day before, archived (cold).
Each test logs in by session cookie (no login page load) and loads few pages.
"""

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from bson import ObjectId
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import expect

from archive import cache
from archive.archiver import archive_logs
from retrieval import hotstore

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=["default", "logs"], transaction=True)]

HOT_DAY = datetime(2023, 8, 27, tzinfo=UTC)
COLD_DAY = HOT_DAY - timedelta(days=1)
LEVELS = ("debug", "info", "warning", "error", "critical")
VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
DAY_SEARCH = "/?date=2023-08-27"
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "explorer.png"


def with_ids(logs: list[dict], first: int) -> list[dict]:
    """Ids made of each log's own second, as ingest makes them: planner.find_log looks near the id's time."""
    return [
        {"_id": ObjectId(f"{int(log['timestamp'].timestamp()):08x}{first + n:016x}"), **log}
        for n, log in enumerate(logs)
    ]


def hot_logs() -> list[dict]:
    """300 users' logs over the hot day, every level, two loggers, a context each; user 4 every 5 minutes too."""
    logs = [
        {
            "timestamp": HOT_DAY + timedelta(minutes=4 * i, seconds=7),
            "user_id": i + 1,
            "level": LEVELS[i % 5],
            "message": f"Trained model {i}, F1: 0.{i % 10}",
            "logger": "train" if i % 2 else "eval.metrics",
            "context": {"run": i, "dataset": "mnist"},
        }
        for i in range(300)
    ]
    logs += [
        {
            "timestamp": HOT_DAY + timedelta(minutes=5 * i, seconds=30),
            "user_id": 4,
            "level": LEVELS[i % 5],
            "message": f"Step {i} of user 4",
            "logger": "train",
            "context": {"step": i},
        }
        for i in range(80)
    ]
    return with_ids(logs, 0)


def cold_logs() -> list[dict]:
    """User 4's last 40 logs of the day before (archived), and someone else's."""
    logs = [
        {
            "timestamp": HOT_DAY - timedelta(minutes=5 * (i + 1)),
            "user_id": 4,
            "level": "info",
            "message": f"Archived step {i} of user 4",
            "logger": "train",
        }
        for i in range(40)
    ]
    other = {"timestamp": COLD_DAY + timedelta(hours=1), "user_id": 5, "level": "error", "message": "other"}
    return with_ids([*logs, other], 1000)


@pytest.fixture
def session_cookie(logs_db) -> dict:
    # Before the browser starts: Playwright's sync API runs an event loop, and the ORM refuses to run inside one.
    hotstore.insert(hot_logs())
    client = Client()
    # No password: force_login needs none, and hashing one costs a second per test.
    client.force_login(User.objects.create(username="engineer", is_staff=True, is_superuser=True))
    return {"name": "sessionid", "value": client.cookies["sessionid"].value}


@pytest.fixture
def with_cold_day(logs_db) -> None:
    hotstore.insert(cold_logs())
    archive_logs(before=HOT_DAY.date(), trigger="test")
    cache.clear()


def open_tab(chromium, live_server, cookie: dict, size: dict):
    context = chromium.new_context(viewport=size, timezone_id="Asia/Kolkata")
    context.add_cookies([{**cookie, "url": live_server.url}])
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.base = live_server.url
    return tab


@pytest.fixture
def tabs(session_cookie, chromium, live_server):
    """Each viewport in turn (1366 px, then 390 px): a tab of its own, on one browser and one seeded database."""

    def each():
        for name, size in VIEWPORTS.items():
            tab = open_tab(chromium, live_server, session_cookie, size)
            try:
                yield name, tab
            finally:
                tab.context.close()

    return each


@pytest.fixture
def desktop_page(session_cookie, chromium, live_server):
    tab = open_tab(chromium, live_server, session_cookie, VIEWPORTS["desktop"])
    yield tab
    tab.context.close()


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def unfold_form(page) -> None:
    """On a phone the search form is folded away: open it by its summary, as a user does."""
    if not page.locator("#search-form").evaluate("d => d.open"):
        page.click("#search-form > summary")


def chart_loaded(page):
    """The histogram, once the page has loaded it (after its rows)."""
    expect(page.locator("#histogram figure.histogram")).to_be_visible()
    return page.locator("#histogram svg a[data-start]")


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_time_picker_presets_relative_and_absolute_times_day_utc_or_local_and_no_empty_parameters(tabs):
    for _, page in tabs():
        page.goto(page.base + "/")
        unfold_form(page)
        page.click("#presets a:text-is('1 h')")
        assert query(page.url) == {"from": ["now-1h"]}
        unfold_form(page)
        assert page.input_value("#id_from") == "now-1h"
        assert (
            page.get_attribute("#id_from", "placeholder") and page.get_attribute("#id_from", "list") == "relative-times"
        )
        assert "now-2d/d" in page.inner_text("#id_from-help")

        page.fill("#id_from", "now-2d/d")
        page.click("form.search button[type=submit]")
        assert query(page.url) == {"from": ["now-2d/d"]}  # no keyword=&user_id=... and the relative time kept
        unfold_form(page)

        # Typing a day clears From/To: Day stays a shortcut.
        page.fill("#id_date", "2023-08-27")
        assert page.input_value("#id_from") == ""
        page.click("form.search button[type=submit]")
        assert query(page.url) == {"date": ["2023-08-27"]}
        unfold_form(page)
        expect(page.locator("#results tbody tr")).to_have_count(100)
        permalink = page.get_attribute("#permalink", "href")
        assert query(permalink) == {"date": ["2023-08-27"]}

        # UTC or local time (the browser's, here UTC+5:30), remembered for the user: in another browser too.
        first = page.locator("#results td.time time").first
        assert first.inner_text() == "2023-08-27 19:56:07.000"
        with page.expect_response(lambda response: response.url.endswith("/preferences/time")) as saved:
            page.check("#local-time")
        assert saved.value.status == 204
        assert first.inner_text() == "2023-08-28 01:26:07.000"
        elsewhere = page.context.browser.new_context(timezone_id="Asia/Kolkata")
        try:
            elsewhere.add_cookies([c for c in page.context.cookies() if c["name"] == "sessionid"])
            other = elsewhere.new_page()
            other.goto(page.url)
            assert other.is_checked("#local-time")
            assert other.locator("#results td.time time").first.inner_text() == "2023-08-28 01:26:07.000"
        finally:
            elsewhere.close()
        # Local time everywhere: the labels, the bars' names and a bar's From (the same moment, with its offset).
        zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")  # Chromium says Asia/Calcutta
        assert page.inner_text("label[for=id_from]") == f"From ({zone})"
        assert page.inner_text("label[for=id_date]") == f"Day ({zone})"
        assert page.locator("#results th").first.text_content() == f"Time ({zone})"
        bars = chart_loaded(page)
        bars.nth(2).focus()
        assert page.inner_text("#bar-tip").startswith(f"2023-08-27 06:30 to 07:00 {zone}: ")
        bars.nth(3).click()
        assert query(page.url)["from"] == ["2023-08-27T01:30:00.000000Z"]
        unfold_form(page)
        assert page.input_value("#id_from") == "2023-08-27T07:00:00+05:30"
        # A day typed in local time is that local day.
        page.fill("#id_date", "2023-08-27")
        page.click("form.search button[type=submit]")
        assert query(page.url) == {"from": ["2023-08-27T00:00:00+05:30"], "to": ["2023-08-28T00:00:00+05:30"]}
        unfold_form(page)
        with page.expect_response(lambda response: response.url.endswith("/preferences/time")):
            page.uncheck("#local-time")
        assert page.inner_text("label[for=id_from]") == "From (UTC)"
        assert page.input_value("#id_from") == "2023-08-26T18:30:00Z"

        page.fill("#id_from", "yesterday at noon")
        page.click("form.search button[type=submit]")
        assert "ISO 8601" in page.inner_text(".errorlist[data-field=from]")


def test_rows_expand_to_every_field_with_links_to_the_log_hot_or_cold_and_the_logs_around_it(with_cold_day, tabs):
    for _, page in tabs():
        page.goto(page.base + DAY_SEARCH + "&user_id=4&order=oldest")
        row = page.locator("#results tbody tr").first
        details = row.locator("details")
        assert not details.evaluate("d => d.open")
        row.locator("td.message").click(position={"x": 5, "y": 5})
        assert details.evaluate("d => d.open")
        fields = row.locator("details dl").inner_text()
        assert re.search(r"id\s+[0-9a-f]{24}", fields) and "eval.metrics" not in fields
        assert '"step": 0' in fields and "hot (MongoDB)" in fields
        row.locator("summary").focus()
        page.keyboard.press("Enter")
        assert not details.evaluate("d => d.open")

        log_id = row.get_attribute("data-id")
        row.locator("summary").click()
        row.locator("a:text-is('This log')").click()
        assert page.url.endswith(f"/logs/{log_id}")
        assert "Step 0 of user 4" in page.inner_text("#log") and '"step": 0' in page.inner_text("#log")

        page.click("#around-link")
        target = page.locator("#around tr.target")
        assert target.get_attribute("data-id") == log_id and target.get_attribute("aria-current") == "true"
        rows = page.locator("#around tbody tr")
        expect(rows).to_have_count(91)  # 40 before it (all there are within a day), the log, 50 after it
        texts = rows.all_inner_texts()
        assert sum("(cold)" in text for text in texts) == 40  # the archived day before: hot and cold together
        assert "Step 0 of user 4" in texts[40]
        assert {t.strip() for t in page.locator("#around td.user").all_text_contents()} == {"User 4"}

        cold = page.locator("#around tbody tr").first
        cold.locator("summary").click()
        cold.locator("a:text-is('This log')").click()
        assert "cold (archive)" in page.inner_text("#log") and "Archived step 39" in page.inner_text("#log")
        assert page.request.get(page.base + "/logs/" + "0" * 24).status == 404
        assert fits_the_screen(page)


def test_drill_down_filters_and_excludes_a_user_a_level_and_a_logger(tabs):
    for _, page in tabs():
        page.goto(page.base + DAY_SEARCH)
        chart_loaded(page)
        page.locator("#results td.user a[aria-label='Only user 300']").first.click()
        assert query(page.url)["user_id"] == ["300"]
        assert set(page.locator("#results td.user a:not(.exclude)").all_inner_texts()) == {"300"}

        page.goto(page.base + DAY_SEARCH)
        chart_loaded(page)  # the rows move down no more
        page.locator("#results a[aria-label='Exclude user 300']").first.click()
        page.wait_for_url(re.compile("q="))
        assert query(page.url)["q"] == ["-user_id:300"]
        assert "300" not in page.locator("#results td.user a:not(.exclude)").all_inner_texts()

        page.locator("#results td.level a.badge.error").first.click()
        assert query(page.url)["level"] == ["error"]
        assert set(page.locator("#results td.level a.badge").all_inner_texts()) == {"error"}

        row = page.locator("#results tbody tr").first
        row.locator("summary").click()
        row.locator("a:text-is('exclude it')").click()
        assert "-logger:" in query(page.url)["q"][0]
        loggers = page.locator("#results details code.logger").all_text_contents()
        assert len(set(loggers) & {"train", "eval.metrics"}) == 1


def test_histogram_bars_zoom_by_click_drag_and_keyboard_and_the_legend_toggles_levels(tabs):
    for _, page in tabs():
        page.goto(page.base + DAY_SEARCH)
        bars = chart_loaded(page)
        expect(bars).to_have_count(48)  # 30-minute bars over the day
        ticks = [int(t) for t in page.locator("#histogram .y-axis span").all_text_contents()]
        assert ticks[0] == 0
        assert all(t % 5 == 0 for t in ticks[1:]) and ticks == sorted(ticks)
        # Readable on a phone too: a tall plot, axis text at its CSS size (not scaled down with the SVG).
        assert page.locator("#histogram svg").bounding_box()["height"] >= 150
        assert page.evaluate("getComputedStyle(document.querySelector('#histogram .y-axis span')).fontSize") == "12px"
        assert page.inner_text("#total-in-range") == "380 logs in range"

        bars.nth(2).focus()
        assert page.inner_text("#bar-tip").startswith("2023-08-27 01:00 to 01:30 UTC:")
        assert re.search(r"\d+ logs", bars.nth(2).get_attribute("aria-label"))

        box_first, box_last = bars.nth(4).bounding_box(), bars.nth(7).bounding_box()
        y = box_first["y"] + box_first["height"] / 2
        page.mouse.move(box_first["x"] + 2, y)
        page.mouse.down()
        page.mouse.move(box_last["x"] + 2, y, steps=5)
        page.mouse.up()
        page.wait_for_url(re.compile("from="))
        assert query(page.url)["from"] == ["2023-08-27T02:00:00.000000Z"]
        assert query(page.url)["to"] == ["2023-08-27T04:00:00.000000Z"]

        # A zoom lands on the chart, not on the top of the page.
        chart_loaded(page)
        assert urlsplit(page.url).fragment == "histogram"
        assert abs(page.locator("#histogram").bounding_box()["y"]) < 10

        chart_loaded(page).first.click()
        assert query(page.url)["to"][0] < "2023-08-27T02:10"

        page.goto(page.base + DAY_SEARCH)
        chart_loaded(page)
        page.click(".legend a:has(.badge.debug)")
        assert query(page.url)["level"] == ["info,warning,error,critical"]
        assert page.get_attribute(".legend a:has(.badge.debug)", "aria-checked") == "false"
        assert "debug" not in page.locator("#results td.level a.badge").all_inner_texts()


def test_paging_goes_forward_and_back_and_shows_the_position(tabs):
    for _, page in tabs():
        page.goto(page.base + DAY_SEARCH + "&page_size=150")
        expect(page.locator("#position")).to_have_text("1–150 of 380")  # its total comes with the histogram
        expect(page.locator("#prev-page")).to_have_count(0)
        page.click("#next-page")
        expect(page.locator("#position")).to_have_text("151–300 of 380")
        page.click("#next-page")
        expect(page.locator("#position")).to_have_text("301–380 of 380")
        expect(page.locator("#next-page")).to_have_count(0)
        page.click("#prev-page")
        expect(page.locator("#position")).to_have_text("151–300 of 380")
        # Typing a new day on a later page works: the page's links keep Day as Day.
        unfold_form(page)
        page.fill("#id_date", "2023-08-26")
        page.click("form.search button[type=submit]")
        assert query(page.url) == {"date": ["2023-08-26"], "page_size": ["150"]}


def test_saved_searches_are_named_listed_shared_and_deleted(tabs):
    for _, page in tabs():
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        page.goto(page.base + DAY_SEARCH + "&user_id=4")
        page.fill("#id_name", "   ")  # passes the browser's `required`, not the server's check
        page.click("#saved-searches button:text-is('Save search')")
        assert page.locator("[data-field=save-name]").inner_text() == "This field is required."

        page.fill("#id_name", "  User 4   that day ")
        page.click("#saved-searches button:text-is('Save search')")
        message = page.locator(".messages li")
        assert message.inner_text() == "Saved the search “User 4 that day”."
        assert message.is_visible() and message.bounding_box()["x"] >= 0
        assert fits_the_screen(page)
        link = page.locator("#saved-searches a.saved-link")
        assert link.inner_text() == "User 4 that day"
        assert query(link.get_attribute("href")) == {"date": ["2023-08-27"], "user_id": ["4"]}

        page.click("#saved-searches button.copy-link")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == page.base + link.get_attribute("href")

        page.goto(page.base + "/")
        page.click("#saved-searches a.saved-link")
        expect(page.locator("#results tbody tr")).to_have_count(81)
        page.click("#saved-searches button:text-is('Delete')")
        assert page.inner_text(".messages li") == "Deleted the saved search “User 4 that day”."
        expect(page.locator("#saved-searches a.saved-link")).to_have_count(0)


def store_hot(documents: list[dict]) -> int:
    """`hotstore.insert` from a thread of its own: Playwright's sync API runs an event loop in this one,
    where Django refuses to open the logs connection."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(hotstore.insert, documents).result()


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
