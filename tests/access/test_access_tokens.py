"""Scoped API tokens: only a hash stored, the secret shown once; scopes, expiry and revocation enforced."""

import hashlib
import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from access import tokens
from access.models import READ, WRITE, ApiToken, AuditEvent
from tests.access_support import token_of, user_granted

pytestmark = pytest.mark.django_db(databases=["default", "logs"])

RECORD = {"timestamp": "2023-08-27T12:30:00Z", "user_id": 1, "level": "info", "message": "Trained a model"}


def auth(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {secret}"}


def test_a_read_only_token_cannot_write_and_a_write_only_token_cannot_read(client, logs_db):
    owner = user_granted("owner")
    reader, writer = token_of(owner, [READ]), token_of(owner, [WRITE])

    refused = client.post("/api/v1/logs", {"logs": [RECORD]}, content_type="application/json", **auth(reader))
    assert refused.status_code == 403 and refused.json() == {"detail": "This token lacks the logs:write scope."}
    assert logs_db.count_documents({}) == 0
    assert client.get("/api/v1/logs", **auth(reader)).status_code == 200

    assert client.get("/api/v1/logs", **auth(writer)).status_code == 403
    assert client.get("/logs/date/2023-08-27/user/1/level/info", **auth(writer)).status_code == 403
    stored = client.post("/api/v1/logs", {"logs": [RECORD]}, content_type="application/json", **auth(writer))
    assert stored.status_code == 201 and logs_db.count_documents({}) == 1


def test_expired_revoked_and_unknown_tokens_get_401(client, logs_db):
    owner = user_granted("owner")
    expired = token_of(owner, expires=timezone.now() - timedelta(seconds=1))
    revoked_secret = token_of(owner)
    tokens.revoke(ApiToken.objects.get(key_hash=tokens.key_hash(revoked_secret)))

    for secret, detail in [
        (expired, "This token has expired."),
        (revoked_secret, "This token was revoked."),
        ("lrt_" + "x" * 40, "Invalid token."),
    ]:
        response = client.get("/api/v1/logs", **auth(secret))
        assert response.status_code == 401 and response.json() == {"detail": detail}
        assert response["WWW-Authenticate"] == "Token"
    bearer = token_of(owner)
    assert client.get("/api/v1/logs", HTTP_AUTHORIZATION=f"Bearer {bearer}").status_code == 200


def test_only_the_hash_is_stored_and_the_secret_has_a_recognisable_prefix():
    secret = token_of(user_granted("owner"))
    token = ApiToken.objects.get()
    assert secret.startswith("lrt_") and len(secret) == 44 and secret[4:].isalnum()
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.prefix == secret[:12]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM access_apitoken")
        row = " ".join(map(str, cursor.fetchone()))
    assert secret not in row and secret[12:] not in row


def test_last_used_is_written_at_most_once_a_minute(client, logs_db):
    secret = token_of(user_granted("owner"))
    client.get("/api/v1/logs", **auth(secret))
    first = ApiToken.objects.get().last_used
    assert first is not None
    client.get("/api/v1/logs", **auth(secret))
    assert ApiToken.objects.get().last_used == first
    ApiToken.objects.update(last_used=first - timedelta(minutes=2))
    client.get("/api/v1/logs", **auth(secret))
    assert ApiToken.objects.get().last_used > first


@pytest.fixture
def admin_client_(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_the_admin_creates_a_token_showing_its_secret_once_and_lists_it_without_hash(admin_client_, logs_db):
    owner = user_granted("owner")
    created = admin_client_.post(
        "/admin/access/apitoken/add/",
        {"user": owner.pk, "name": "ci", "scopes": [READ], "user_ids": "1,2", "expires": ""},
    )
    assert created.status_code == 302, created.content  # redirect after POST
    token = ApiToken.objects.get(name="ci")
    shown = admin_client_.get(created["Location"])
    secret = shown.context["secret"]
    assert secret.encode() in shown.content and tokens.key_hash(secret) == token.key_hash
    # Refreshing the page shows the secret no more and creates no second token.
    again = admin_client_.get(created["Location"])
    assert again.status_code == 200 and secret.encode() not in again.content and token.prefix.encode() in again.content
    assert ApiToken.objects.filter(name="ci").count() == 1
    assert token.scopes == [READ] and token.user_ids == "1,2"
    assert AuditEvent.objects.filter(action="token_created", params__prefix=token.prefix).exists()

    for page in (
        admin_client_.get("/admin/access/apitoken/"),
        admin_client_.get(f"/admin/access/apitoken/{token.pk}/change/"),
    ):
        assert page.status_code == 200
        assert token.prefix.encode() in page.content
        assert secret.encode() not in page.content and token.key_hash.encode() not in page.content

    assert admin_client_.get("/api/v1/logs", **auth(secret)).status_code == 200
    revoked = admin_client_.post(
        "/admin/access/apitoken/", {"action": "revoke_tokens", "_selected_action": [str(token.pk)]}, follow=True
    )
    assert b"Revoked 1 token" in revoked.content
    assert admin_client_.get("/api/v1/logs", **auth(secret)).status_code == 401
    assert AuditEvent.objects.filter(action="token_revoked", params__prefix=token.prefix).exists()


def test_the_tokens_command_creates_lists_and_revokes(capsys, client, logs_db):
    user_granted("ops")
    call_command("tokens", "create", "--user", "ops", "--name", "shipper", "--scope", WRITE, "--expires-days", "30")
    secret = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(name="shipper")
    assert token.key_hash == tokens.key_hash(secret) and token.scopes == [WRITE]
    assert token.expires is not None and token.expires > timezone.now() + timedelta(days=29)

    call_command("tokens", "list", "--user", "ops")
    listed = capsys.readouterr().out
    assert token.prefix in listed and "shipper" in listed and secret not in listed and token.key_hash not in listed

    call_command("tokens", "revoke", token.prefix)
    assert ApiToken.objects.get().revoked is not None
    assert client.get("/api/v1/logs", **auth(secret)).status_code == 401
    assert list(AuditEvent.objects.values_list("action", flat=True).order_by("when")) == [
        "token_created",
        "token_revoked",
    ]


def test_an_old_drf_key_is_migrated_to_a_hashed_token_that_still_works(client, logs_db):
    upgrade = importlib.import_module("access.migrations.0002_old_keys_and_prune_schedule")
    user = User.objects.create_user("legacy")
    old_key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, user_id integer, created timestamp with time zone)"
        )
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", [old_key, user.pk, timezone.now()])
    with connection.schema_editor() as editor:
        upgrade.migrate_old_keys(apps, editor)

    assert "authtoken_token" not in connection.introspection.table_names()  # no plaintext key is kept
    token = ApiToken.objects.get(user=user)
    assert token.key_hash == tokens.key_hash(old_key) and token.prefix == old_key[:8]
    assert sorted(token.scopes) == [READ, WRITE]
    assert user.log_grant.read_all and user.log_grant.write_all  # what the user could do before, unchanged
    assert client.get("/api/v1/logs", **auth(old_key)).status_code == 200
