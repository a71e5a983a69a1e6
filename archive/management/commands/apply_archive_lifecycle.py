"""Let object storage delete archives older than N days, with a bucket lifecycle rule."""

from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from archive.storage import s3_archive_storage

RULE_ID = "logretrieval-archive-expiry"
# Answers of S3 APIs that have no lifecycle rules (some S3-compatible servers).
UNSUPPORTED = {"NotImplemented", "MethodNotAllowed", "InvalidRequest"}


def expiry_rule(prefix: str, days: int) -> dict:
    return {
        "ID": RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": f"{prefix}/"},
        "Expiration": {"Days": days},
        # Uploads cut off midway (a killed archiver) would otherwise be billed forever.
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }


class Command(BaseCommand):
    help = (
        "Apply (or --remove) an S3 lifecycle rule that expires archive objects under ARCHIVE_PREFIX "
        "N days after upload. Other lifecycle rules of the bucket are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--days", type=int, help="expire archive objects this many days after upload (>= 1)")
        action.add_argument("--remove", action="store_true", help="remove the rule; archives are kept forever")

    def handle(self, *args: Any, days: int | None, remove: bool, **options: Any) -> None:
        if days is not None and days < 1:
            raise CommandError("--days must be 1 or more.")
        if days is None and not remove:
            raise CommandError("Give --days N or --remove.")
        if settings.ARCHIVE_STORAGE != "s3":
            raise CommandError(
                f"ARCHIVE_STORAGE={settings.ARCHIVE_STORAGE} does not support lifecycle rules; "
                "only object storage (ARCHIVE_STORAGE=s3) does. Delete old folders under the archive yourself."
            )
        storage = s3_archive_storage()
        client, bucket = storage.connection.meta.client, storage.bucket_name
        try:
            rules = [rule for rule in current_rules(client, bucket) if rule.get("ID") != RULE_ID]
            if days is not None and not remove:
                rules.append(expiry_rule(settings.ARCHIVE_PREFIX, days))
            if rules:
                client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
            else:
                client.delete_bucket_lifecycle(Bucket=bucket)
            applied = [rule for rule in current_rules(client, bucket) if rule.get("ID") == RULE_ID]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in UNSUPPORTED:
                raise CommandError(f"This object storage does not support lifecycle rules ({code}).") from exc
            raise CommandError(f"Could not apply the lifecycle rule to bucket {bucket}: {exc}") from exc

        if remove:
            self.stdout.write(f"Removed rule {RULE_ID} from bucket {bucket}; archives no longer expire.")
        elif not applied or applied[0].get("Expiration", {}).get("Days") != days:
            raise CommandError(f"Bucket {bucket} did not keep the rule: it reads back as {applied}.")
        else:
            self.stdout.write(
                f"Bucket {bucket}: objects under {settings.ARCHIVE_PREFIX}/ expire {days} days after upload "
                f"(rule {RULE_ID})."
            )


def current_rules(client: BaseClient, bucket: str) -> list[dict]:
    try:
        return client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
            return []
        raise
