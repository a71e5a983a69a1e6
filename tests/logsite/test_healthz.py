import pytest
from django.conf import settings
from django.core.files.storage import storages
from django.test import override_settings

from devservices.localservices import start_redis
from tests.faults import closed_port_uri, logs_database_at

pytestmark = pytest.mark.django_db(databases=["default", "logs"])


def test_healthz_is_200_when_every_service_answers(client):
    response = client.get("/healthz")

    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"mongodb": "ok", "sql": "ok", "broker": "ok", "archive_storage": "ok"}


def test_healthz_is_503_naming_the_broker_when_redis_is_stopped(client, tmp_path):
    redis = start_redis(tmp_path)
    try:
        with override_settings(CELERY_BROKER_URL=redis.env["REDIS_URL"]):
            assert client.get("/healthz").status_code == 200
            redis.stop()
            response = client.get("/healthz")
    finally:
        redis.stop()

    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]
    assert response.json()["checks"]["mongodb"] == "ok"


def test_healthz_is_503_naming_the_archive_storage_when_the_bucket_is_missing(client):
    archive = settings.STORAGES["archive"]
    missing_bucket = {**archive, "OPTIONS": {**archive["OPTIONS"], "bucket_name": "no-such-bucket"}}
    try:
        with override_settings(STORAGES={**settings.STORAGES, "archive": missing_bucket}):
            response = client.get("/healthz")
    finally:
        storages._storages.pop("archive", None)  # drop the instance built from the override

    assert response.status_code == 503
    assert response.json()["failing"] == ["archive_storage"]


def test_healthz_connects_to_mongodb_when_no_connection_is_open_yet(client):
    from django.db import connections

    connections["logs"].close()

    response = client.get("/healthz")

    assert response.json()["checks"]["mongodb"] == "ok"


def test_healthz_accepts_a_file_archive_whose_folder_does_not_exist_yet(client, tmp_path):
    folder = tmp_path / "archive"
    file_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(folder)}}
    try:
        with override_settings(ARCHIVE_STORAGE="file", STORAGES={**settings.STORAGES, "archive": file_storage}):
            response = client.get("/healthz")
    finally:
        storages._storages.pop("archive", None)

    assert response.json()["checks"]["archive_storage"] == "ok"
    assert folder.is_dir()


def test_readyz_stays_200_with_the_broker_down_while_healthz_reports_it(client, tmp_path):
    redis = start_redis(tmp_path)
    redis.stop()
    with override_settings(CELERY_BROKER_URL=redis.env["REDIS_URL"]):
        ready = client.get("/readyz")
        health = client.get("/healthz")

    assert ready.status_code == 200, ready.json()
    assert ready.json()["checks"] == {"mongodb": "ok", "sql": "ok"}
    assert health.status_code == 503 and health.json()["failing"] == ["broker"]


def test_readyz_is_503_with_mongodb_down(client):
    with logs_database_at(closed_port_uri(), serverSelectionTimeoutMS=300, connectTimeoutMS=300):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["mongodb"]
