"""The archive's id index: an archived log is found by id whatever time its id carries (page, API, find_log),
parts recorded before the index existed still are (near the id's time, then everywhere once indexed by
`manage.py index_archived_ids`), and ingest answers an archived id as a duplicate whatever the record claims."""

import os
from datetime import UTC, date, datetime, timedelta

import pytest
from bson import ObjectId
from django.core.management import call_command
from django.utils.html import escape
from rest_framework.test import APIClient

from access.models import WRITE
from access.scope import EVERY
from archive.archiver import archive_logs
from archive.idindex import BLOCK_RECORDS, locate
from archive.locks import acquire, release
from archive.models import ArchivePart, IdIndex, IdIndexSegment
from devservices import traffic
from retrieval import hotstore, planner
from retrieval.filters import LogFilterSet
from retrieval.query import LogQuery
from tests.access_support import token_of, user_granted
from tests.cold_archive import write_parts

pytestmark = [
    pytest.mark.django_db(databases=["default", "logs"], transaction=True),
    pytest.mark.usefixtures("empty_archive", "empty_cold_cache"),
]

DAY = date(2023, 8, 27)
START = datetime(2023, 8, 27, tzinfo=UTC)
# The demo seeds a week of logs in one go: every id carries the seeding time, days after the logs.
SEEDED = START + timedelta(days=6, hours=5)
USERS = 40


def seeded_ids(documents: list[dict], at: datetime) -> list[dict]:
    """The documents with ids made at `at` by one process, one after the other (as a driver makes them)."""
    base = ObjectId.from_datetime(at).binary[:4] + os.urandom(5)
    return [{**d, "_id": ObjectId(base + n.to_bytes(3, "big"))} for n, d in enumerate(documents)]


def every() -> LogQuery:
    filterset = LogFilterSet({}, scope=EVERY)
    assert filterset.is_valid(), filterset.form.errors
    return filterset.log_query()


@pytest.fixture
def two_runs_of_a_day(logs_db) -> tuple[list[dict], list[dict]]:
    """1,500 logs of DAY (more than one index block, BLOCK_RECORDS) from 40 users with ids of the seeding time,
    archived; then 300 late logs of DAY whose senders made their ids nine days later, archived by a second run
    into later parts. 40 users, not hundreds: each (user, level) is a part to upload, and the id index does not
    depend on how many there are."""
    first = seeded_ids(list(traffic.documents(1500, START, START + timedelta(days=1), users=USERS, seed=5)), SEEDED)
    assert len(first) > BLOCK_RECORDS
    hotstore.insert([dict(d) for d in first])
    archive_logs(before=DAY + timedelta(days=1))
    late = seeded_ids(traffic.late_documents(300, DAY, users=USERS, seed=5), START + timedelta(days=9))
    hotstore.insert([dict(d) for d in late])
    archive_logs(before=DAY + timedelta(days=1))
    assert logs_db.count_documents({}) == 0
    return first, late


def test_archived_logs_whose_ids_carry_another_day_are_found_by_id_and_an_archived_id_sent_again_is_a_duplicate(
    two_runs_of_a_day, api, client, logs_db
):
    """One test of three checks on one archive (archiving two runs of a day takes a while): found by id on
    the page, the API and find_log; through one block of one index segment; and a duplicate when sent again
    with another time, user and level."""
    first, late = two_runs_of_a_day
    assert IdIndex.objects.count() == 2 and not ArchivePart.objects.filter(id_index__isnull=True).exists()
    assert ArchivePart.objects.values("run").distinct().count() == 2  # the late logs went into later parts
    client.force_login(user_granted("engineer"))
    for document in (first[0], first[1234], first[-1], late[0], late[-1]):
        log_id = str(document["_id"])
        row = planner.find_log(log_id, every())
        assert row is not None and (row.source, row.message) == ("cold", document["message"])
        answer = api.get(f"/api/v1/logs/{log_id}")
        assert answer.status_code == 200 and answer.json()["timestamp"].startswith("2023-08-27"), answer.content
        shown = escape(document["message"])
        page = client.get(f"/logs/{log_id}")
        assert page.status_code == 200 and shown in page.content.decode()
        around = client.get(f"/logs/{log_id}/around")
        assert around.status_code == 200 and shown in around.content.decode()
    # An id next to archived ones that no log has is not found.
    missing = ObjectId(first[0]["_id"].binary[:9] + (2**24 - 1).to_bytes(3, "big"))
    assert planner.find_log(str(missing), every()) is None
    assert api.get(f"/api/v1/logs/{missing}").status_code == 404

    # Finding an id reads one block of one index segment.
    for document in (first[17], late[17]):
        log_id = str(document["_id"])
        holding = IdIndexSegment.objects.filter(min_id__lte=log_id, max_id__gte=log_id)
        assert holding.count() == 1  # one ranged read of the index, then the one part
        part = ArchivePart.objects.get(pk__in=locate([log_id])[log_id])
        assert (part.user_id, part.level) == (document["user_id"], document["level"])

    # An archived id sent again with another time, user and level is a duplicate.
    record = {
        "id": str(first[42]["_id"]),
        "timestamp": "2023-09-30T10:00:00Z",  # another day, not archived
        "user_id": (first[42]["user_id"] + 1) % USERS,
        "level": "critical" if first[42]["level"] != "critical" else "info",
        "message": "an attempt to replace an archived log",
    }
    answer = api.post("/api/v1/logs", {"logs": [record]}, format="json")
    assert answer.status_code == 201 and answer.json()["duplicates"] == 1, answer.content
    assert logs_db.count_documents({}) == 0

    # A sender who may not write the archived log's user_id is not told that the id exists.
    stranger = APIClient()
    stranger.credentials(
        HTTP_AUTHORIZATION=f"Token {token_of(user_granted('stranger', read=[], write=[record['user_id']]), [WRITE])}"
    )
    probe = stranger.post("/api/v1/logs", {"logs": [record]}, format="json")
    assert probe.status_code == 201 and probe.json() == {"inserted": 1, "duplicates": 0, "ids": [record["id"]]}
    assert logs_db.count_documents({}) == 0


def test_parts_recorded_before_the_index_are_found_near_the_id_time_then_anywhere_once_indexed(api):
    near = list(traffic.documents(200, START, START + timedelta(days=1), users=USERS, seed=6, sender_ids=True))
    far = seeded_ids(
        list(traffic.documents(200, START + timedelta(days=1), START + timedelta(days=2), users=USERS, seed=7)), SEEDED
    )
    write_parts(near + far, purged=True)  # as an archiver without the index wrote them
    assert planner.find_log(str(near[5]["_id"]), every()).source == "cold"  # the id's time is the log's
    assert planner.find_log(str(far[5]["_id"]), every()) is None

    # Another archiver holds the second day: the command indexes the first one and leaves it for later.
    acquire(DAY + timedelta(days=1), "another archiver")
    call_command("index_archived_ids", verbosity=0)
    assert set(IdIndex.objects.values_list("day", flat=True)) == {DAY}
    assert planner.find_log(str(far[5]["_id"]), every()) is None
    release(DAY + timedelta(days=1), "another archiver")
    call_command("index_archived_ids", verbosity=0)
    assert sorted(IdIndex.objects.values_list("day", flat=True)) == [DAY, DAY + timedelta(days=1)]  # each once
    for document in (near[5], far[5], far[-1]):
        assert planner.find_log(str(document["_id"]), every()).message == document["message"]
    assert api.get(f"/api/v1/logs/{far[5]['_id']}").json()["source"] == "cold"
