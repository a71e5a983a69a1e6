"""The audit trail: a row for each audited action (who, token, from where, what), read-only, pruned after
AUDIT_RETENTION_DAYS."""

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from access import audit
from access.models import AuditEvent, Grant
from devservices.processes import free_port
from tests.access_support import token_of, user_granted

pytestmark = pytest.mark.django_db(databases=["default", "logs"])


@pytest.fixture
def root(client):
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_searches_and_exports_are_audited_with_who_token_address_and_query(client, logs_db):
    user = user_granted("analyst", read=[4])
    client.force_login(user)
    client.get("/", {"date": "2023-08-27", "keyword": "recall"}, REMOTE_ADDR="10.1.2.3")
    client.get("/export.csv", {"date": "2023-08-27"})
    secret = token_of(user)
    client.get("/api/v1/logs", {"date": "2023-08-27", "user_id": "4"}, HTTP_AUTHORIZATION=f"Token {secret}")

    page, export, api = AuditEvent.objects.order_by("when")
    assert (page.action, page.actor, page.user, page.client_ip) == ("search", "analyst", user, "10.1.2.3")
    assert page.params["door"] == "page" and page.params["keyword"] == "recall" and page.params["date"] == "2023-08-27"
    assert (export.action, export.params["format"]) == ("export", "csv")
    assert (api.action, api.params["door"], api.params["user_id"], api.token_prefix) == (
        "search",
        "api",
        "4",
        secret[:12],
    )


def test_the_forwarded_address_is_recorded_only_behind_a_trusted_proxy(client, logs_db):
    client.force_login(user_granted("analyst"))
    forwarded = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9"}
    client.get("/api/v1/logs", **forwarded)
    with override_settings(TRUST_X_FORWARDED_FOR=True):
        client.get("/api/v1/logs", **forwarded)
    assert list(AuditEvent.objects.order_by("when").values_list("client_ip", flat=True)) == ["10.0.0.1", "203.0.113.9"]


def test_grant_changes_in_the_admin_are_audited(root):
    analyst = User.objects.create_user("analyst")
    root.post(
        "/admin/access/grant/add/",
        {"user": analyst.pk, "read_user_ids": "1, 4", "write_user_ids": ""},
    )
    grant = Grant.objects.get(user=analyst)
    assert grant.read_user_ids == "1, 4"
    root.post(f"/admin/access/grant/{grant.pk}/delete/", {"post": "yes"})
    assert not Grant.objects.exists()
    changed, deleted = AuditEvent.objects.order_by("when")
    assert (changed.action, changed.actor, changed.params["read_user_ids"], changed.params["created"]) == (
        "grant_changed",
        "root",
        "1, 4",
        True,
    )
    assert (deleted.action, deleted.params["grant"]) == ("grant_deleted", "user analyst")


def test_a_bad_user_id_list_in_a_grant_is_a_form_error(root):
    analyst = User.objects.create_user("analyst")
    response = root.post("/admin/access/grant/add/", {"user": analyst.pk, "read_user_ids": "1, alice"})
    assert response.status_code == 200 and "is not a user id" in response.content.decode()
    assert not Grant.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.usefixtures("empty_archive")
def test_archive_runs_started_by_hand_are_audited(root, logs_db):
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0"):  # no worker takes it
        root.post("/admin/archive/archiverun/start/")
    call_command("archive_logs", "-v", "0")
    button, command = AuditEvent.objects.order_by("when")
    assert (button.action, button.actor, button.outcome) == ("archive_run", "root", "broker unreachable")
    assert (command.action, command.params["trigger"]) == ("archive_run", "command")
    assert command.actor.startswith("command (") and command.user is None


def test_the_audit_list_is_read_only(root):
    audit.record(AuditEvent.Action.SEARCH, params={"date": "2023-08-27"})
    event = AuditEvent.objects.get()
    assert root.get("/admin/access/auditevent/", {"action": "search"}).status_code == 200
    assert root.get("/admin/access/auditevent/add/").status_code == 403
    assert root.post(f"/admin/access/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.count() == 1


@override_settings(AUDIT_RETENTION_DAYS=30)
def test_pruning_removes_only_events_older_than_the_retention():
    from access.tasks import prune_audit_events

    for age in (31, 29, 0):
        audit.record(AuditEvent.Action.SEARCH, params={"age": age})
    AuditEvent.objects.filter(params__age=31).update(when=timezone.now() - timedelta(days=31))
    AuditEvent.objects.filter(params__age=29).update(when=timezone.now() - timedelta(days=29))

    assert prune_audit_events() == 1
    assert sorted(AuditEvent.objects.values_list("params__age", flat=True)) == [0, 29]
    AuditEvent.objects.filter(params__age=29).update(when=timezone.now() - timedelta(days=30, minutes=1))
    out = io.StringIO()
    call_command("prune_audit_events", stdout=out)
    assert out.getvalue() == "Deleted 1 audit events older than 30 days.\n"
    assert list(AuditEvent.objects.values_list("params__age", flat=True)) == [0]


def test_the_data_migration_puts_the_prune_task_on_the_beat_schedule():
    from django_celery_beat.models import PeriodicTask

    call_command("migrate", "access", "0001", verbosity=0)
    assert not PeriodicTask.objects.filter(task="access.prune_audit_events").exists()
    call_command("migrate", "access", verbosity=0)
    entry = PeriodicTask.objects.get(task="access.prune_audit_events")
    assert entry.enabled and (entry.crontab.hour, entry.crontab.minute) == ("3", "15")


def test_a_live_tail_is_audited_when_it_starts_not_at_each_poll(api, logs_db):
    cursor = api.get("/api/v1/logs/tail", {"user_id": "4"}).json()["cursor"]
    for _ in range(3):
        cursor = api.get("/api/v1/logs/tail", {"user_id": "4", "after": cursor}).json()["cursor"]
    [event] = AuditEvent.objects.all()
    assert (event.action, event.params["door"], event.params["user_id"]) == ("search", "tail", "4")
