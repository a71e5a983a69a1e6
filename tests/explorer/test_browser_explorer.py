"""The log explorer in a real browser (Debian's Chromium, headless, Playwright), at 1366 px and at 390 px.

Seeded with 300 users' logs on a hot day and user 4's logs on the day before, archived (cold).
Each test logs in by session cookie (no login page load) and loads few pages.
"""

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.explorer.browser_support import (
    DAY_SEARCH,
    chart_loaded,
    fits_the_screen,
    query,
    unfold_form,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=["default", "logs"], transaction=True)]


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
