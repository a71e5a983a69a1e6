"""A day with 1,000,000 logs: archived completely, each log exactly once, memory flat."""

import gzip
import itertools
import resource
from collections import Counter
from datetime import date

import pytest

from archive.archiver import archive_logs
from archive.models import ArchivePart, ArchiveRun
from retrieval.demo import generate_demo_logs
from tests.archive_support import archive_objects, clear_archive

DAY = date(2023, 8, 27)
LOGS = 1_000_000


@pytest.mark.slow
# On FerretDB the purge is ~34 delete commands, each a scan of the collection (docs/ferretdb.md).
@pytest.mark.timeout(3600)
@pytest.mark.django_db(databases=["default", "logs"])
def test_a_day_with_a_million_logs(logs_db):
    clear_archive()
    inserted = set()
    documents = generate_demo_logs([DAY], LOGS, seed=5)
    while batch := list(itertools.islice(documents, 10_000)):
        logs_db.insert_many(batch, ordered=False)
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
