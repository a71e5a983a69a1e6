"""The archive ledger (SQL): runs, the parts they wrote, and the bookkeeping that makes runs crash-safe."""

from django.db import models


class ArchiveRun(models.Model):
    """One execution of the archiver, from the beat schedule, the admin or the command."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    started = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)
    # Renewed while the run works; a "running" run whose heartbeat is older than
    # the lock lifetime belongs to a dead worker and is marked failed by the next run.
    heartbeat = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    before = models.DateField(help_text="Days strictly before this one were due.")
    trigger = models.CharField(max_length=32, default="task")
    days = models.PositiveIntegerField(default=0, help_text="Days this run archived logs for.")
    logs = models.PositiveBigIntegerField(default=0)
    raw_bytes = models.PositiveBigIntegerField(default=0)
    compressed_bytes = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started"]
        get_latest_by = "started"
        # Viewing runs is not enough to start one: a run deletes logs from MongoDB.
        permissions = [("start_archiverun", "Can start an archive run")]

    def __str__(self) -> str:
        return f"Archive run {self.pk} ({self.status}, {self.started:%Y-%m-%d %H:%M} UTC)"

    @property
    def compression_ratio(self) -> float | None:
        return self.raw_bytes / self.compressed_bytes if self.compressed_bytes else None


class IdIndex(models.Model):
    """One id index object (archive.idindex): the ids of a batch of parts of a day, sorted, each with its part.

    Written with the parts it covers (the archiver) or later for parts recorded before it existed
    (`manage.py index_archived_ids`); its parts point to it (ArchivePart.id_index).
    """

    key = models.CharField(max_length=512, unique=True)
    day = models.DateField()
    logs = models.PositiveBigIntegerField()
    size = models.PositiveBigIntegerField(help_text="Bytes of the stored object.")
    sha256 = models.CharField(max_length=64, help_text="Of the stored object.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["day", "created"]
        verbose_name_plural = "id indexes"

    def __str__(self) -> str:
        return self.key


class IdIndexSegment(models.Model):
    """A run of an id index object's records whose ids (and so their times) lie close together.

    A lookup asks for the segments whose [min_id, max_id] holds the id, then reads one block
    of BLOCK_RECORDS records of each, found by bisecting `fences`.
    """

    index = models.ForeignKey(IdIndex, on_delete=models.CASCADE, related_name="segments")
    min_id = models.CharField(max_length=24)
    max_id = models.CharField(max_length=24)
    first_record = models.PositiveBigIntegerField(help_text="Its first record's number in the object.")
    count = models.PositiveIntegerField()
    fences = models.TextField(help_text="The hex ids of its records 0, BLOCK_RECORDS, 2 * BLOCK_RECORDS...")

    class Meta:
        indexes = [models.Index(fields=["min_id", "max_id"], name="idindex_segment_range")]

    def __str__(self) -> str:
        return f"{self.index.key} [{self.min_id}, {self.max_id}]"


class ArchivePart(models.Model):
    """One verified object in cold storage: the logs of one (day, user, level) written by one run.

    A row exists only once the object was uploaded and read back intact, so every
    row is safe to read. `purged` is set once its logs were deleted from MongoDB;
    until then the same logs may also be in hot storage (readers dedupe by `_id`).
    """

    run = models.ForeignKey(ArchiveRun, on_delete=models.PROTECT, related_name="parts")
    key = models.CharField(max_length=512, unique=True)
    day = models.DateField()
    user_id = models.IntegerField()
    level = models.CharField(max_length=16)
    count = models.PositiveIntegerField()
    raw_bytes = models.PositiveBigIntegerField()
    compressed_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, help_text="Of the stored (compressed) object.")
    first_timestamp = models.DateTimeField()
    last_timestamp = models.DateTimeField()
    created = models.DateTimeField(auto_now_add=True)
    purged = models.DateTimeField(null=True, blank=True, help_text="When its logs were deleted from MongoDB.")
    # The histogram of archived days without a keyword is summed from these, reading no object (archive.minutes).
    minute_counts = models.JSONField(
        null=True,
        blank=True,
        help_text="Logs per minute of the day: [[minute, logs], ...] in minute order, no zeros. "
        "Empty for parts archived before it was recorded (they are read instead).",
    )
    # None for parts recorded before the id index existed (found by id near the id's time only).
    id_index = models.ForeignKey(
        IdIndex,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="parts",
        help_text="The id index object that lists its ids.",
    )
    # Set while the part's logs are loaded back into MongoDB (archive.rehydrate).
    rehydrated_until = models.DateTimeField(
        null=True, blank=True, help_text="Its logs are back in MongoDB until then (rehydrated)."
    )

    class Meta:
        ordering = ["day", "user_id", "level", "created"]
        indexes = [models.Index(fields=["day", "user_id", "level"], name="part_day_user_level")]

    def __str__(self) -> str:
        return self.key

    @property
    def compression_ratio(self) -> float | None:
        return self.raw_bytes / self.compressed_bytes if self.compressed_bytes else None


class ArchivedDay(models.Model):
    """A day the archiver emptied from MongoDB: every log stored for it before `exported_from` is in a
    purged part. A search reads the day in MongoDB again only if logs came later (retrieval.LateWrite),
    a part is not purged yet, or a part is rehydrated (archive.hot)."""

    day = models.DateField(unique=True)
    exported_from = models.DateTimeField(help_text="SQL server time just before the export that emptied the day.")

    def __str__(self) -> str:
        return f"{self.day} (archived from {self.exported_from:%Y-%m-%d %H:%M:%S} UTC)"


class PendingUpload(models.Model):
    """An object key a run may have uploaded but not yet verified and recorded.

    Written before the upload and removed in the same transaction that records
    the ArchivePart. If one is left behind (the run died), the next run for that
    day deletes the object: its logs are still in MongoDB, since logs are only
    deleted after their part is recorded.
    """

    key = models.CharField(max_length=512, unique=True)
    day = models.DateField()
    run = models.ForeignKey(ArchiveRun, on_delete=models.CASCADE, related_name="pending_uploads")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


class DayLock(models.Model):
    """At most one archiver works on a day; the lock lapses if its holder stops renewing it."""

    day = models.DateField(unique=True)
    holder = models.CharField(max_length=64)
    expires = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.day} held by {self.holder} until {self.expires:%H:%M:%S}"
