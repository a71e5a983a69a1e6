"""The ledger in the admin (read-only, totals, ratio), the beat schedule entry, and runs started from the admin."""

import re
import time
from datetime import date
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.template.defaultfilters import filesizeformat
from django.test import override_settings
from django_celery_beat.models import PeriodicTask

from archive.archiver import archive_logs
from archive.models import ArchivedDay, ArchivePart, ArchiveRun
from devservices.processes import free_port
from tests.archive_support import BEFORE, DAYS, insert_demo_logs, start_worker, wait_for

pytestmark = [pytest.mark.django_db(databases=["default", "logs"]), pytest.mark.usefixtures("empty_archive")]


def test_the_data_migration_creates_the_daily_0030_utc_entry(admin_client):
    call_command("migrate", "archive", "0001", verbosity=0)
    assert not PeriodicTask.objects.filter(task="archive.archive_old_logs").exists()
    call_command("migrate", "archive", verbosity=0)

    entry = PeriodicTask.objects.get(task="archive.archive_old_logs")
    assert entry.enabled
    assert (entry.crontab.minute, entry.crontab.hour, str(entry.crontab.timezone)) == ("30", "0", "UTC")
    page = admin_client.get("/admin/django_celery_beat/periodictask/")
    assert page.status_code == 200 and "Archive day-old logs (daily)" in page.content.decode()


def test_runs_and_parts_pages_show_totals_and_compression_and_stay_read_only(admin_client, logs_db):
    insert_demo_logs(days=DAYS[:2], per_day=200)
    run = archive_logs(before=BEFORE)

    runs_page = admin_client.get("/admin/archive/archiverun/").content.decode()
    assert "Totals for this list:" in runs_page and "400 logs" in runs_page
    assert f"compression ratio {run.raw_bytes / run.compressed_bytes:.1f}x" in runs_page
    assert "Start an archive run now" in runs_page
    parts_page = admin_client.get("/admin/archive/archivepart/?day=2023-08-25").content.decode()
    assert "200 logs" in parts_page
    detail = admin_client.get(f"/admin/archive/archiverun/{run.pk}/change/")
    assert detail.status_code == 200 and "succeeded" in detail.content.decode().lower()
    assert admin_client.get("/admin/archive/archiverun/add/").status_code == 403
    assert admin_client.post(f"/admin/archive/archiverun/{run.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/archive/archiverun/start/").status_code == 405


@pytest.mark.django_db(databases=["default", "logs"], transaction=True)
def test_a_run_started_from_the_admin_is_done_by_a_real_worker(admin_client, logs_db):
    insert_demo_logs(days=DAYS, per_day=100)
    worker = start_worker()
    try:
        response = admin_client.post("/admin/archive/archiverun/start/", follow=True)
        assert "An archive run was queued" in response.content.decode()
        run = wait_for(
            lambda: ArchiveRun.objects.filter(trigger="admin", status=ArchiveRun.Status.SUCCEEDED).first(),
            what="the queued run to finish",
        )
    finally:
        worker.kill()
        worker.wait()
    assert (run.days, run.logs) == (3, 300)
    assert logs_db.count_documents({}) == 0


def test_start_now_with_the_broker_down_says_so_and_starts_nothing(admin_client, logs_db):
    insert_demo_logs(days=DAYS, per_day=10)
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0"):  # nothing listens there
        started = time.monotonic()
        response = admin_client.post("/admin/archive/archiverun/start/", follow=True)
        elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert response.redirect_chain == [("/admin/archive/archiverun/", 302)]
    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith("The Celery broker is unreachable, so no archive run was started")
    # Generous for a busy machine; a refused connection answers at once, a retrying send would take minutes.
    assert elapsed < 20, f"the admin's start waited {elapsed:.1f} s for a broker that refuses connections"
    assert not ArchiveRun.objects.exists()
    assert logs_db.count_documents({}) == 30


def search_links(html: str) -> list[dict[str, list[str]]]:
    """The query of every link to the search page (path "/") in an admin page."""
    return [parse_qs(urlsplit(unescape(href)).query) for href in re.findall(r'href="(/\?[^"]*)"', html)]


def test_ledger_lists_show_human_sizes_utc_times_and_deleted_from_mongodb(admin_client, logs_db):
    insert_demo_logs(days=DAYS[:1], per_day=200)
    run = archive_logs(before=BEFORE)
    part = ArchivePart.objects.order_by("-compressed_bytes").first()

    runs_page = admin_client.get("/admin/archive/archiverun/").content.decode()
    parts_page = admin_client.get("/admin/archive/archivepart/").content.decode()
    part_page = admin_client.get(f"/admin/archive/archivepart/{part.pk}/change/").content.decode()

    assert "Started (UTC)" in runs_page and f"{run.started:%Y-%m-%d %H:%M:%S}" in runs_page
    assert filesizeformat(run.raw_bytes) in runs_page and f">{run.raw_bytes}<" not in runs_page
    assert filesizeformat(part.compressed_bytes) in parts_page and f">{part.compressed_bytes}<" not in parts_page
    assert "Deleted from MongoDB" in parts_page and "By deleted from MongoDB" in parts_page
    assert "purged" not in parts_page.lower()
    assert f"{part.purged:%Y-%m-%d %H:%M:%S}" in part_page and f">{part.compressed_bytes}<" in part_page
    assert part.key in part_page  # the key, left out of the list, is on the detail page


def test_each_part_and_archived_day_links_to_its_logs_on_the_search_page(admin_client, logs_db):
    insert_demo_logs(days=DAYS[:1], per_day=200)
    archive_logs(before=BEFORE)
    parts = {(str(p.day), str(p.user_id), p.level): p.count for p in ArchivePart.objects.all()}

    links = search_links(admin_client.get("/admin/archive/archivepart/").content.decode())
    days_page = admin_client.get("/admin/archive/archivedday/").content.decode()

    assert sorted((q["date"][0], q["user_id"][0], q["level"][0]) for q in links) == sorted(parts)
    assert search_links(days_page) == [{"date": ["2023-08-25"]}] and "Day (UTC)" in days_page
    day, user_id, level = max(parts, key=parts.get)
    found = admin_client.get("/", {"date": day, "user_id": user_id, "level": level}).context["page"].rows
    assert len(found) == parts[(day, user_id, level)] and {row.source for row in found} == {"cold"}


def test_admin_log_list_says_which_days_of_its_range_are_in_the_archive(admin_client, logs_db):
    insert_demo_logs(days=DAYS[:2], per_day=200)
    archive_logs(before=date(2023, 8, 26))  # 2023-08-25 archived, 2023-08-26 still hot
    assert ArchivedDay.objects.filter(day=date(2023, 8, 25)).exists()
    both_days = {"from": "2023-08-25T00:00:00Z", "to": "2023-08-27T00:00:00Z", "user_id": "2", "q": "User"}

    listed = admin_client.get("/admin/retrieval/logentry/", both_days)
    hot_day = admin_client.get("/admin/retrieval/logentry/", {"date": "2023-08-26", "user_id": "2"})

    html = listed.content.decode()
    assert "Logs from 2023-08-25 are in the archive:" in html
    notice = html.split('id="archive-notice"', 1)[1].split("</li>", 1)[0]
    [link] = search_links(notice)
    assert link == {"from": [both_days["from"]], "to": [both_days["to"]], "user_id": ["2"], "keyword": ["User"]}
    rows = admin_client.get("/", {k: v[0] for k, v in link.items()}).context["page"].rows
    assert {row.timestamp.date() for row in rows if row.source == "cold"} == {date(2023, 8, 25)}
    assert 'id="archive-notice"' not in hot_day.content.decode()
