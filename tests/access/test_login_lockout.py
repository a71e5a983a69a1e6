"""django-axes: the tenth wrong password for an account locks it, on the site's and the admin's login."""

import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password-7Qx"


def log_in(client, username: str, password: str, path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": password})


def test_the_tenth_wrong_password_locks_the_account_and_the_right_one_then_fails(client):
    User.objects.create_user("engineer", password=PASSWORD)
    User.objects.create_user("colleague", password=PASSWORD)

    wrong = [log_in(client, "engineer", f"wrong-{attempt}") for attempt in range(10)]

    assert {response.status_code for response in wrong[:9]} == {200}  # the form again, with its error
    assert wrong[9].status_code == 429
    assert b"Account locked" in wrong[9].content
    right = log_in(client, "engineer", PASSWORD)
    assert right.status_code == 429 and b"Account locked" in right.content
    assert "_auth_user_id" not in client.session
    # The admin's login is locked for that account too; another account is not.
    assert log_in(client, "engineer", PASSWORD, "/admin/login/").status_code == 429
    assert log_in(client, "colleague", PASSWORD).status_code == 302


def test_nine_wrong_passwords_then_the_right_one_logs_in(client):
    User.objects.create_user("engineer", password=PASSWORD)
    for attempt in range(9):
        log_in(client, "engineer", f"wrong-{attempt}")

    assert log_in(client, "engineer", PASSWORD).status_code == 302


def test_no_login_page_offers_a_password_reset_and_no_reset_page_exists(client):
    for path in ("/accounts/login/", "/admin/login/"):
        page = client.get(path).content.decode()
        assert "password_reset" not in page and "Forgotten" not in page

    assert client.get("/accounts/password_reset/").status_code == 404
