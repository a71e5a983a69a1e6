"""apply_archive_lifecycle against the moto S3 server: the rule is read back from the bucket."""

import pytest
from django.conf import settings
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.test import override_settings

from archive.management.commands.apply_archive_lifecycle import RULE_ID
from archive.storage import archive_storage

OTHER_RULE = {"ID": "someone-elses", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 3}}


@pytest.fixture
def s3():
    """The archive bucket's client, with no lifecycle rule before or after the test."""
    storage = archive_storage()
    client = storage.connection.meta.client
    client.delete_bucket_lifecycle(Bucket=storage.bucket_name)
    yield client
    client.delete_bucket_lifecycle(Bucket=storage.bucket_name)


def rules(s3) -> dict[str, dict]:
    response = s3.get_bucket_lifecycle_configuration(Bucket=settings.ARCHIVE_BUCKET)
    return {rule["ID"]: rule for rule in response["Rules"]}


def test_applies_an_expiry_rule_on_the_archive_prefix(s3, capsys):
    call_command("apply_archive_lifecycle", "--days", "90")

    rule = rules(s3)[RULE_ID]
    assert rule["Status"] == "Enabled"
    assert rule["Filter"] == {"Prefix": f"{settings.ARCHIVE_PREFIX}/"}
    assert rule["Expiration"] == {"Days": 90}
    assert "expire 90 days after upload" in capsys.readouterr().out


def test_a_second_run_replaces_the_rule_and_keeps_other_rules(s3):
    s3.put_bucket_lifecycle_configuration(
        Bucket=settings.ARCHIVE_BUCKET, LifecycleConfiguration={"Rules": [OTHER_RULE]}
    )

    call_command("apply_archive_lifecycle", "--days", "30")
    call_command("apply_archive_lifecycle", "--days", "365")

    applied = rules(s3)
    assert set(applied) == {RULE_ID, "someone-elses"}
    assert applied[RULE_ID]["Expiration"] == {"Days": 365}
    assert applied["someone-elses"]["Expiration"] == {"Days": 3}


def test_remove_takes_out_only_our_rule(s3):
    s3.put_bucket_lifecycle_configuration(
        Bucket=settings.ARCHIVE_BUCKET, LifecycleConfiguration={"Rules": [OTHER_RULE]}
    )
    call_command("apply_archive_lifecycle", "--days", "30")

    call_command("apply_archive_lifecycle", "--remove")

    assert set(rules(s3)) == {"someone-elses"}


def test_remove_of_the_last_rule_leaves_no_lifecycle(s3):
    call_command("apply_archive_lifecycle", "--days", "30")

    call_command("apply_archive_lifecycle", "--remove")

    with pytest.raises(s3.exceptions.ClientError, match="NoSuchLifecycleConfiguration"):
        s3.get_bucket_lifecycle_configuration(Bucket=settings.ARCHIVE_BUCKET)


def test_days_must_be_positive(s3):
    with pytest.raises(CommandError, match="--days must be 1 or more"):
        call_command("apply_archive_lifecycle", "--days", "0")


def test_file_storage_is_reported_as_unsupported(tmp_path):
    file_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}
    try:
        with (
            override_settings(ARCHIVE_STORAGE="file", STORAGES={**settings.STORAGES, "archive": file_storage}),
            pytest.raises(CommandError, match="ARCHIVE_STORAGE=file does not support lifecycle rules"),
        ):
            call_command("apply_archive_lifecycle", "--days", "30")
    finally:
        storages._storages.pop("archive", None)  # drop the instance built from the override


def test_a_missing_bucket_is_a_clear_error():
    archive = settings.STORAGES["archive"]
    missing = {**archive, "OPTIONS": {**archive["OPTIONS"], "bucket_name": "no-such-bucket"}}
    try:
        with (
            override_settings(STORAGES={**settings.STORAGES, "archive": missing}),
            pytest.raises(CommandError, match="bucket no-such-bucket.*NoSuchBucket"),
        ):
            call_command("apply_archive_lifecycle", "--days", "30")
    finally:
        storages._storages.pop("archive", None)
