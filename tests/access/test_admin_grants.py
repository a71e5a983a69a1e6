"""Grants in the admin's lists: a staff user granted only user_id 1, with view permissions, sees audit rows and
tokens of their own and no archive run (whose totals cover every user_id), and cannot start a run."""

import pytest
from django.contrib.auth.models import Permission, User

from access import audit, tokens
from access.models import AuditEvent
from archive.models import ArchiveRun
from tests.access_support import user_granted

pytestmark = pytest.mark.django_db(databases=["default", "logs"])

VIEW = ["view_auditevent", "view_apitoken", "add_apitoken", "view_archiverun", "view_archivepart"]


@pytest.fixture
def other() -> User:
    """Another tenant's user, with a token, a search in the audit trail and an archive run."""
    user = user_granted("other-tenant", read=[2], write=[2])
    tokens.create_token(user, "other-tenant-secret-project")
    audit.record(AuditEvent.Action.SEARCH, params={"user_id": [2], "keyword": "other-tenant-query"}, user=user)
    ArchiveRun.objects.create(before="2023-08-27", status=ArchiveRun.Status.SUCCEEDED, logs=123_457)
    return user


@pytest.fixture
def viewer(client):
    """A logged-in staff user granted user_id 1, with view permissions only."""
    user = user_granted("viewer", read=[1], write=[1], is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=VIEW))
    tokens.create_token(user, "viewer-own-token")
    audit.record(AuditEvent.Action.SEARCH, params={"user_id": [1], "keyword": "viewer-own-query"}, user=user)
    client.force_login(user)
    return client


def test_the_audit_list_shows_a_user_granted_some_user_ids_their_own_rows_only(viewer, other):
    page = viewer.get("/admin/access/auditevent/").content.decode()

    assert "viewer-own-query" in page
    assert "other-tenant-query" not in page and "other-tenant" not in page


def test_the_token_list_shows_a_user_their_own_tokens_only(viewer, other):
    page = viewer.get("/admin/access/apitoken/").content.decode()

    assert "viewer-own-token" in page
    assert "other-tenant-secret-project" not in page


def test_the_archive_run_list_and_totals_are_hidden_from_a_user_not_granted_every_user_id(viewer, other):
    page = viewer.get("/admin/archive/archiverun/")

    assert page.status_code == 200
    assert "123,457" not in page.content.decode() and "123457" not in page.content.decode()
    assert "Start an archive run now" not in page.content.decode()


def test_viewing_archive_runs_is_not_enough_to_start_one(viewer):
    response = viewer.post("/admin/archive/archiverun/start/")

    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ARCHIVE_RUN).exists()  # nothing was queued


def test_a_user_who_may_add_tokens_makes_them_for_themselves_only(viewer, other):
    form = {"name": "for-someone-else", "scopes": ["logs:read"], "user_ids": "", "expires": ""}

    refused = viewer.post("/admin/access/apitoken/add/", {**form, "user": other.pk})
    made = viewer.post(
        "/admin/access/apitoken/add/", {**form, "user": User.objects.get(username="viewer").pk}, follow=True
    )

    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert not other.api_tokens.filter(name="for-someone-else").exists()
    assert made.status_code == 200 and "API token created" in made.content.decode()


def test_a_superuser_sees_every_row(admin_client, other):
    assert "other-tenant-query" in admin_client.get("/admin/access/auditevent/").content.decode()
    assert "other-tenant-secret-project" in admin_client.get("/admin/access/apitoken/").content.decode()
    assert "123,457" in admin_client.get("/admin/archive/archiverun/").content.decode()
