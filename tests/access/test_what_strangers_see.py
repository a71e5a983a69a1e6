"""Non-staff users and anonymous callers see "unavailable", never an internal host:port; staff (and, for
/healthz, the METRICS_TOKEN bearer) see the error; the API docs need a login."""

import re

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tests.access_support import user_granted
from tests.faults import closed_port_uri, logs_database_at

pytestmark = pytest.mark.django_db(databases=["default", "logs"])

HOST_PORT = re.compile(r"\d+\.\d+\.\d+\.\d+:\d+|localhost:\d+")


@pytest.fixture
def mongodb_down():
    with logs_database_at(closed_port_uri(), serverSelectionTimeoutMS=300, connectTimeoutMS=300):
        yield


def test_anonymous_healthz_with_mongodb_down_names_no_host_but_staff_and_the_monitor_see_it(client, mongodb_down):
    anonymous = client.get("/healthz")
    monitor = client.get("/healthz", headers={"Authorization": f"Bearer {settings.METRICS_TOKEN}"})
    client.force_login(User.objects.create_user("ops", is_staff=True))
    staff = client.get("/healthz")

    assert anonymous.status_code == 503
    assert anonymous.json()["failing"] == ["mongodb"]
    assert anonymous.json()["checks"]["mongodb"] == "unavailable"
    assert not HOST_PORT.search(anonymous.content.decode())
    for detailed in (monitor, staff):
        assert HOST_PORT.search(detailed.json()["checks"]["mongodb"]), detailed.json()


def test_a_non_staff_users_api_sources_say_only_unavailable_while_staff_see_why(logs_db, mongodb_down):
    user, staff = APIClient(), APIClient()
    user.force_login(user_granted("engineer"))
    staff.force_login(user_granted("ops", is_staff=True))

    for_user = user.get("/api/v1/logs").json()
    for_staff = staff.get("/api/v1/logs").json()

    assert for_user["partial"] is True
    assert for_user["sources"]["hot"] == "unavailable"
    assert not HOST_PORT.search(str(for_user))
    assert for_staff["sources"]["hot"].startswith("unavailable: MongoDB did not answer")


def test_the_search_pages_partial_notice_names_no_host_for_a_non_staff_user(client, logs_db, mongodb_down):
    client.force_login(user_granted("engineer"))

    page = client.get("/").content.decode()

    assert "hot storage unavailable" in page
    assert not HOST_PORT.search(page)


def test_the_api_docs_and_schema_need_a_login_by_default(client):
    docs = client.get("/api/docs/")
    schema = client.get("/api/schema/")
    client.force_login(User.objects.create_user("engineer"))

    assert docs.status_code == 302 and docs["Location"].startswith("/accounts/login/")
    assert schema.status_code in (401, 403)
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/schema/").status_code == 200
