"""The Python logging handler (clients/python) against the real server: delivery, restarts, refusals."""

import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, timedelta

import pytest
from django.core.management import call_command
from logretrieval_handler import LogRetrievalHandler, wire

from devservices.processes import free_port, wait_until
from tests.access_support import token_of, user_granted

pytestmark = pytest.mark.django_db(databases=["default", "logs"], transaction=True)


@pytest.fixture
def token() -> str:
    # transaction=True: committed, so a server in another process sees it too.
    return token_of(user_granted(f"sender-{uuid.uuid4().hex[:8]}"))


@pytest.fixture
def isolated_logger():
    """A logger outside logging's tree: no parent's handlers, and pytest's capture (which re-raises
    formatting errors) is not attached to it. Level 1: every level, custom ones below DEBUG included."""
    logger = logging.Logger(f"test.handler.{uuid.uuid4().hex[:8]}", level=1)
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close(timeout=1)


@pytest.fixture
def posts(monkeypatch) -> list:
    """Every attempt the handler makes: (ids in the body, status or None)."""
    seen: list = []
    real_post = wire.post

    def recording_post(url: str, token: str, body: bytes, timeout: float) -> wire.Answer:
        answer = real_post(url, token, body, timeout)
        seen.append(([record["id"] for record in json.loads(body)["logs"]], answer.status))
        return answer

    monkeypatch.setattr(wire, "post", recording_post)
    return seen


def test_records_arrive_once_with_level_logger_user_and_context(live_server, token, logs_db, isolated_logger):
    handler = LogRetrievalHandler(f"{live_server.url}/api/v1/logs", token, user_id=4, flush_interval=0.1)
    isolated_logger.addHandler(handler)
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL, 25, 5):
        isolated_logger.log(level, "level %s", level)
    isolated_logger.info("with context", extra={"user_id": 7, "context": {"run": "r1", "step": 3}})
    try:
        raise ValueError("bad batch")
    except ValueError:
        isolated_logger.exception("step failed")

    assert handler.flush(timeout=30)
    assert (handler.sent, handler.dropped, handler.rejected) == (9, 0, 0)
    stored = {document["message"].split("\n")[0]: document for document in logs_db.find()}
    assert len(stored) == logs_db.count_documents({}) == 9
    levels = {message: document["level"] for message, document in stored.items() if message.startswith("level")}
    assert levels == {
        "level 10": "debug",
        "level 20": "info",
        "level 30": "warning",
        "level 40": "error",
        "level 50": "critical",
        "level 25": "info",  # between two levels: rounds down
        "level 5": "debug",
    }
    assert {document["logger"] for document in stored.values()} == {isolated_logger.name}
    assert stored["with context"]["user_id"] == 7
    assert stored["with context"]["context"] == {"run": "r1", "step": 3}
    assert stored["level 20"]["user_id"] == 4
    assert "context" not in stored["level 20"]
    assert "ValueError: bad batch" in stored["step failed"]["message"]  # exc_info is part of the message
    assert stored["step failed"]["level"] == "error"
    # The handler's ids are what the server stored, and each record's time is in its id.
    for document in stored.values():
        stamp = document["timestamp"].replace(tzinfo=UTC)
        assert abs(document["_id"].generation_time - stamp) < timedelta(seconds=1)


@pytest.mark.slow
def test_a_server_killed_and_restarted_while_sending_loses_and_doubles_nothing(
    app_server, token, logs_db, isolated_logger, posts
):
    app_server.start()
    handler = LogRetrievalHandler(
        f"{app_server.base}/api/v1/logs", token, user_id=2, batch_size=100, flush_interval=0.05
    )
    isolated_logger.addHandler(handler)
    total = 3000

    def write() -> None:
        for number in range(total):
            isolated_logger.info("record %d", number)
            if number % 50 == 49:
                time.sleep(0.02)  # a steady stream, so that the kill lands while batches are in flight

    writer = threading.Thread(target=write)
    writer.start()
    wait_until(lambda: handler.sent >= 800, "a third of the records sent", timeout=60)
    app_server.kill()
    # Down long enough for attempts to fail (refused connections), then back on the same port.
    wait_until(lambda: any(status is None for _, status in posts), "a failed attempt", timeout=30)
    app_server.start()
    writer.join(timeout=60)
    assert handler.flush(timeout=120)

    assert (handler.sent, handler.dropped, handler.rejected) == (total, 0, 0)
    attempted = Counter(record_id for ids, _ in posts for record_id in ids)
    assert len(attempted) == total
    stored = [str(document["_id"]) for document in logs_db.find({}, {"_id": 1})]
    assert len(stored) == total and set(stored) == set(attempted)  # every id once, no other
    messages = {document["message"] for document in logs_db.find({}, {"message": 1})}
    assert messages == {f"record {number}" for number in range(total)}
    assert any(count > 1 for count in attempted.values())  # some batches were sent again, same ids


def test_a_full_queue_drops_at_once_and_counts(isolated_logger):
    unreachable = f"http://127.0.0.1:{free_port()}/api/v1/logs"
    handler = LogRetrievalHandler(unreachable, "no-server", user_id=1, batch_size=1, max_queue=5)
    isolated_logger.addHandler(handler)
    for number in range(50):
        isolated_logger.info("record %d", number)  # returns although nothing can be sent
    # At most the queue's 5 and the one batch being retried are held; the rest were dropped.
    assert handler.dropped >= 44
    assert handler.flush(timeout=0.2) is False
    handler.close(timeout=0.2)
    assert (handler.sent, handler.dropped, handler.rejected) == (0, 50, 0)  # close gave up the rest


def test_records_the_server_refuses_are_counted_not_retried(live_server, token, logs_db, isolated_logger, posts):
    url = f"{live_server.url}/api/v1/logs"
    handler = LogRetrievalHandler(url, token, user_id=3, flush_interval=60)
    isolated_logger.addHandler(handler)
    for number in range(5):
        isolated_logger.info("good %d", number)
    isolated_logger.info("bad user", extra={"user_id": -1})  # a 400 naming logs[5].user_id
    assert handler.flush(timeout=30)
    # The named record is rejected; the others, which the server checked but did not store, are sent again.
    assert (handler.sent, handler.rejected) == (5, 1)
    assert [status for _, status in posts] == [400, 201]
    assert sorted(document["message"] for document in logs_db.find()) == [f"good {n}" for n in range(5)]

    refused = LogRetrievalHandler(url, "not-a-token", user_id=3, flush_interval=60)
    isolated_logger.addHandler(refused)
    isolated_logger.info("unauthorized")
    assert refused.flush(timeout=30)
    assert (refused.sent, refused.rejected) == (0, 1)
    assert [status for _, status in posts[2:]] == [401]  # not retried


def test_a_record_whose_context_holds_nul_is_dropped_and_counted_and_the_rest_sent(
    live_server, token, logs_db, isolated_logger, posts
):
    # Answered 503 before, and retried until the whole batch was given up.
    handler = LogRetrievalHandler(f"{live_server.url}/api/v1/logs", token, user_id=3, flush_interval=60)
    isolated_logger.addHandler(handler)
    for number in range(5):
        isolated_logger.info("good %d", number, extra={"context": {"step": number}})
    isolated_logger.info("nul", extra={"context": {"run": "r\x001"}})
    assert handler.flush(timeout=30)

    assert (handler.sent, handler.rejected, handler.dropped) == (5, 1, 0)
    assert [status for _, status in posts] == [400, 201]
    assert logs_db.count_documents({}) == 5


def test_a_record_with_a_forced_bad_level_is_rejected(live_server, token, logs_db, isolated_logger, monkeypatch):
    monkeypatch.setattr(wire, "level_name", lambda levelno: "verbose")
    handler = LogRetrievalHandler(f"{live_server.url}/api/v1/logs", token, user_id=3, flush_interval=60)
    isolated_logger.addHandler(handler)
    isolated_logger.info("bad level")
    assert handler.flush(timeout=30)
    assert (handler.sent, handler.rejected) == (0, 1)
    assert logs_db.count_documents({}) == 0


def test_emit_never_raises(live_server, token, logs_db, isolated_logger, capsys):
    handler = LogRetrievalHandler(f"{live_server.url}/api/v1/logs", token, flush_interval=60)
    isolated_logger.addHandler(handler)
    isolated_logger.info("%d steps", "many", extra={"user_id": 1})  # formatting fails: stdlib handleError
    isolated_logger.info("no user")  # neither extra user_id nor a default: dropped, warned once
    isolated_logger.info("no user again")
    isolated_logger.info("fine", extra={"user_id": 1, "context": {"loss": float("nan")}})  # sent without context
    assert handler.flush(timeout=30)
    assert (handler.sent, handler.dropped, handler.rejected) == (1, 2, 0)
    errors = capsys.readouterr().err
    assert "TypeError" in errors
    assert errors.count("without user_id") == 1
    assert [(d["message"], "context" in d) for d in logs_db.find()] == [("fine", False)]


def test_demo_traffic_sends_demo_logs_through_the_handler(live_server, logs_db, capsys):
    call_command("ensure_demo_user")
    url = f"{live_server.url}/api/v1/logs"
    call_command("demo_traffic", "--rate", "50", "--seconds", "2", "--users", "3", "--url", url)
    out = capsys.readouterr().out
    assert f"Sending about 50 logs/s for users 1-3 to {url}; Ctrl-C stops" in out
    stored = list(logs_db.find())
    assert 50 <= len(stored) <= 110
    assert f"sent {len(stored)}, dropped 0, rejected 0" in out
    assert {document["user_id"] for document in stored} <= {1, 2, 3}
    assert all(f"User: {document['user_id']}, " in document["message"] for document in stored)


def test_demo_traffic_prints_a_write_only_demo_token_that_sends_and_cannot_search(live_server, logs_db, capsys):
    call_command("ensure_demo_user")
    capsys.readouterr()
    call_command("demo_traffic", "--print-token")
    token = capsys.readouterr().out.strip()
    assert token.startswith("lrt_")
    url = f"{live_server.url}/api/v1/logs"
    call_command("demo_traffic", "--rate", "50", "--seconds", "1", "--users", "2", "--url", url, "--token", token)
    assert "rejected 0" in capsys.readouterr().out
    assert logs_db.count_documents({}) > 0
    search = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(search, timeout=10)
    assert refused.value.code == 403
