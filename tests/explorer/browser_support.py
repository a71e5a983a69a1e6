"""The explorer's browser tests' data and page helpers (their fixtures are in conftest.py)."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from bson import ObjectId
from playwright.sync_api import expect

from retrieval import hotstore

HOT_DAY = datetime(2023, 8, 27, tzinfo=UTC)
COLD_DAY = HOT_DAY - timedelta(days=1)
LEVELS = ("debug", "info", "warning", "error", "critical")
VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
DAY_SEARCH = "/?date=2023-08-27"


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


def open_tab(chromium, live_server, cookie: dict, size: dict):
    context = chromium.new_context(viewport=size, timezone_id="Asia/Kolkata")
    context.add_cookies([{**cookie, "url": live_server.url}])
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.base = live_server.url
    return tab


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


def store_hot(documents: list[dict]) -> int:
    """`hotstore.insert` from a thread of its own: Playwright's sync API runs an event loop in this one,
    where Django refuses to open the logs connection."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(hotstore.insert, documents).result()
