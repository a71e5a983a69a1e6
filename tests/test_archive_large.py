"""A large day (ARCHIVE_LARGE_DAY_LOGS logs, 300,000 by default; 1,000,000 in the MongoDB CI
workflow): archived completely, each log exactly once, memory flat.

300,000 here because on FerretDB every purge command scans the whole collection
(docs/ferretdb.md): a 1,000,000-log day takes about half an hour on two shared cores.
300,000 still spills several sorted runs (exporter.SORT_RUN_BYTES) and needs ten purge windows."""

import gzip
import itertools
import os
import resource
from collections import Counter
from datetime import date

import pytest

from archive.archiver import archive_logs
from archive.models import ArchivePart, ArchiveRun
from retrieval import hotstore
from retrieval.demo import generate_demo_logs
from tests.archive_support import archive_objects, clear_archive

DAY = date(2023, 8, 27)
LOGS = int(os.environ.get("ARCHIVE_LARGE_DAY_LOGS", "300000"))


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.django_db(databases=["default", "logs"])
def test_a_large_day_is_archived_once_with_flat_memory(logs_db):
    clear_archive()
    inserted = set()
    documents = generate_demo_logs([DAY], LOGS, seed=5)
    while batch := list(itertools.islice(documents, 10_000)):
        hotstore.insert(batch)
        inserted.update(str(document["_id"]) for document in batch)
    del documents, batch
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    run = archive_logs(before=date(2023, 8, 28))

    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kb) / 1024
    assert run.status == ArchiveRun.Status.SUCCEEDED and run.logs == LOGS and run.days == 1
    assert logs_db.count_documents({}) == 0
    assert grown_mb < 150, f"peak RSS grew by {grown_mb:.0f} MB while archiving"
    archived = Counter()
    for key, body in archive_objects().items():
        if key.endswith(".jsonl.gz"):
            archived.update(line[8:32].decode() for line in gzip.decompress(body).splitlines())
    assert sum(archived.values()) == LOGS and archived.keys() == inserted
    assert sum(ArchivePart.objects.values_list("count", flat=True)) == LOGS
    clear_archive()
