"""The alerts' doors: GET/POST /api/v1/alerts/rules, GET /api/v1/alerts, the /alerts page and the admin lists,
each showing only what the caller's grants allow."""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from access.models import AuditEvent
from alerts import states
from alerts.models import Alert, Delivery, Rule
from tests.access_support import token_of, user_granted
from tests.alert_support import NOW, recall, rule

pytestmark = [pytest.mark.django_db(databases=["default", "logs"]), pytest.mark.usefixtures("metric_names")]


def client_of(user, scopes=("logs:read", "logs:write")) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_of(user, scopes)}")
    return client


@pytest.fixture
def two_alerts(logs_db):
    """Alerts of users 1 and 2, from a rule of an owner granted both."""
    owner = user_granted("owner", read=[1, 2])
    rule(owner)
    recall(1, 10, 0.5)
    recall(2, 10, 0.5)
    states.tick(NOW)
    assert Alert.objects.count() == 2
    return owner


RULE = {
    "name": "loss up",
    "kind": "threshold",
    "metric": "Loss",
    "aggregate": "max",
    "comparison": "above",
    "threshold": 2.5,
    "window_minutes": 120,
    "user_ids": [1],
    "webhook_url": "https://hooks.example.com/x",
}


def test_posting_a_rule_makes_it_the_callers_and_shows_its_secret_once(logs_db):
    reader = user_granted("reader", read=[1])
    client = client_of(reader)
    made = client.post("/api/v1/alerts/rules", RULE, format="json")
    assert made.status_code == 201, made.content
    stored = Rule.objects.get()
    assert (stored.owner, stored.user_ids, made.json()["secret"]) == (reader, [1], stored.secret)
    listed = client.get("/api/v1/alerts/rules").json()
    assert [r["name"] for r in listed] == ["loss up"] and "secret" not in listed[0]
    assert client_of(user_granted("other", read=[1])).get("/api/v1/alerts/rules").json() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "drop", "threshold": 150}, "threshold"),
        ({"kind": "errors"}, "metric"),
        ({"metric": ""}, "metric"),
        ({"window_minutes": 0}, "window_minutes"),
        ({"webhook_url": "ftp://hooks.example.com/x"}, "webhook_url"),
        ({"user_ids": ["one"]}, "user_ids"),
        ({"aggregate": "median"}, "aggregate"),
    ],
)
def test_a_wrong_rule_is_a_400_naming_the_field(logs_db, change, field):
    response = client_of(user_granted("reader", read=[1])).post(
        "/api/v1/alerts/rules", {**RULE, **change}, format="json"
    )
    assert response.status_code == 400 and field in response.json(), response.content
    assert not Rule.objects.exists()


def test_a_rule_for_user_ids_not_granted_is_a_403_naming_them(logs_db):
    response = client_of(user_granted("reader", read=[1])).post(
        "/api/v1/alerts/rules", {**RULE, "user_ids": [1, 7]}, format="json"
    )
    assert response.status_code == 403 and "7" in response.json()["user_ids"][0]
    assert not Rule.objects.exists()


def test_a_read_only_token_may_list_rules_but_not_make_one(logs_db):
    client = client_of(user_granted("reader", read=[1]), scopes=("logs:read",))
    assert client.get("/api/v1/alerts/rules").status_code == 200
    assert client.post("/api/v1/alerts/rules", RULE, format="json").status_code == 403


def test_the_alerts_api_lists_alerts_of_granted_user_ids_only_and_audits(two_alerts):
    client = client_of(user_granted("reader", read=[2]))
    found = client.get("/api/v1/alerts").json()
    assert [(a["user_id"], a["state"], a["rule"]) for a in found] == [(2, "firing", "recall low")]
    assert found[0]["links"]["chart"].startswith("/charts?name=Recall")
    assert found[0]["links"]["logs"].startswith("/?user_id=2&from=")
    assert client.get("/api/v1/alerts?state=resolved").json() == []
    assert client.get("/api/v1/alerts?user_id=1").status_code == 403
    assert client.get("/api/v1/alerts?state=gone").status_code == 400
    assert "colour" in client.get("/api/v1/alerts?colour=red").json()
    assert AuditEvent.objects.filter(params__door="alerts-api").count() == 2  # the two answered


def test_the_alerts_page_shows_firing_and_past_alerts_of_granted_users_with_their_links(two_alerts, client):
    client.force_login(user_granted("reader", read=[1]))
    page = client.get("/alerts")
    assert page.status_code == 200
    text = page.content.decode()
    assert "/charts?name=Recall&amp;user_id=1" in text and "/?user_id=1&amp;from=" in text
    assert "user_id=2" not in text
    assert AuditEvent.objects.filter(params__door="alerts-page").count() == 1
    logs_link = page.context["firing"][0]["links"]["logs"]
    assert client.get(logs_link).status_code == 200  # the explorer takes the link's parameters
    assert client.get("/alerts?user_id=abc").status_code == 400
    client.logout()
    assert client.get("/alerts").status_code == 302  # to the login


def test_the_admin_lists_alerts_and_deliveries_of_granted_users_and_own_rules(two_alerts, client):
    staff = user_granted("staff", read=[2], is_staff=True, is_superuser=False)
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="alerts"))
    client.force_login(staff)
    assert client.get("/admin/alerts/alert/").context["cl"].result_count == 1
    assert (
        client.get("/admin/alerts/delivery/").context["cl"].result_count
        == Delivery.objects.filter(transition__alert__user_id=2).count()
        == 1
    )
    assert client.get("/admin/alerts/rule/").context["cl"].result_count == 0  # the owner's rule is not theirs
    made = client.post(
        "/admin/alerts/rule/add/",
        {
            "name": "mine",
            "kind": "errors",
            "threshold": 3,
            "window_minutes": 10,
            "user_ids": "[1]",
            "aggregate": "",
            "comparison": "",
            "enabled": "on",
        },
    )
    assert made.status_code == 200 and "Not granted to you: user_id 1" in made.content.decode()
    made = client.post(
        "/admin/alerts/rule/add/",
        {
            "name": "mine",
            "kind": "errors",
            "threshold": 3,
            "window_minutes": 10,
            "user_ids": "[2]",
            "aggregate": "",
            "comparison": "",
            "enabled": "on",
        },
    )
    assert made.status_code == 302, made.content.decode()[:2000]
    assert Rule.objects.get(name="mine").owner == staff
