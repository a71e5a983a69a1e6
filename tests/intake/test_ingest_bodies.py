"""POST /api/v1/logs takes JSON or NDJSON, gzip or not, with a length or chunked (under gunicorn)."""

import gzip
import http.client
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


def records(n: int, prefix: str = "line") -> list[dict]:
    return [
        {"timestamp": "2023-08-27T12:30:00Z", "user_id": 7, "level": "info", "message": f"{prefix} {i}"}
        for i in range(n)
    ]


def ndjson(batch: list[dict]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in batch)


@pytest.mark.parametrize(
    ("content_type", "encode", "encoding"),
    [
        pytest.param("application/x-ndjson", ndjson, None, id="ndjson"),
        pytest.param("application/x-ndjson", lambda b: gzip.compress(ndjson(b)), "gzip", id="ndjson+gzip"),
        pytest.param("application/json", lambda b: gzip.compress(json.dumps({"logs": b}).encode()), "gzip", id="gzip"),
    ],
)
def test_each_body_form_stores_the_batch_once_and_a_resend_is_duplicates(api, logs_db, content_type, encode, encoding):
    batch = records(50)
    headers = {"Content-Encoding": encoding} if encoding else {}

    first = api.post("/api/v1/logs", encode(batch), content_type=content_type, headers=headers)
    again = api.post("/api/v1/logs", encode(batch), content_type=content_type, headers=headers)

    assert first.status_code == 201, first.content
    assert first.json()["inserted"] == 50
    assert again.json() == {**first.json(), "inserted": 0, "duplicates": 50}
    assert sorted(d["message"] for d in logs_db.find()) == sorted(r["message"] for r in batch)


def test_an_ndjson_line_keeps_u2028_inside_its_message_and_blank_lines_are_skipped(api, logs_db):
    body = ndjson(records(1, "a\u2028b")) + b"\n\r\n" + ndjson(records(1, "c"))

    response = api.post("/api/v1/logs", body, content_type="application/x-ndjson")

    assert response.status_code == 201, response.content
    assert sorted(d["message"] for d in logs_db.find()) == ["a\u2028b 0", "c 0"]


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status", "says"),
    [
        (ndjson(records(2)) + b"{not json\n", "application/x-ndjson", {}, 400, "Line 3 is not valid JSON"),
        (b"\xff\xfe", "application/json", {}, 400, "not UTF-8"),
        (gzip.compress(b"{}")[:-3], "application/json", {"Content-Encoding": "gzip"}, 400, "not whole gzip"),
        (b"logs=1", "application/x-www-form-urlencoded", {}, 415, "Send application/json or application/x-ndjson"),
        (b"{}", "application/json", {"Content-Encoding": "br"}, 415, "'br' is not supported"),
    ],
)
def test_a_body_that_cannot_be_read_is_refused_naming_the_body_and_stores_nothing(
    api, logs_db, body, content_type, headers, status, says
):
    response = api.post("/api/v1/logs", body, content_type=content_type, headers=headers)

    assert response.status_code == status
    assert says in response.json()["body"][0]
    assert logs_db.count_documents({}) == 0


def test_a_gzip_bomb_is_413_and_stores_nothing(api, logs_db):
    bomb = gzip.compress(b" " * (64 * 2**20))  # 64 MB of spaces in about 64 KB: past the 16 MB limit

    response = api.post("/api/v1/logs", bomb, content_type="application/json", headers={"Content-Encoding": "gzip"})

    assert response.status_code == 413 and "split the batch" in response.json()["body"][0]
    assert logs_db.count_documents({}) == 0


def test_a_content_length_that_is_not_a_number_is_400(api, logs_db):
    response = api.post("/api/v1/logs", b"[]", content_type="application/json", CONTENT_LENGTH="12abc")

    assert response.status_code == 400 and "Content-Length" in response.json()["body"][0]


def post_chunked(base: str, token: str, pieces: list[bytes], **headers: str) -> tuple[int, dict]:
    """POST with Transfer-Encoding: chunked (no Content-Length), one chunk per piece."""
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.request(
        "POST",
        "/api/v1/logs",
        body=iter(pieces),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/x-ndjson", **headers},
        encode_chunked=True,
    )
    response = connection.getresponse()
    return response.status, json.loads(response.read())


@pytest.mark.django_db(databases=["default", "logs"], transaction=True)
def test_a_chunked_body_under_gunicorn_is_read_whole_plain_and_gzip(app_server, logs_db):
    from tests.access_support import token_of, user_granted

    token = token_of(user_granted("chunked-sender"))
    app_server.start()
    base = app_server.base
    body = ndjson(records(300, "chunked"))
    compressed = gzip.compress(body)

    status, answer = post_chunked(base, token, [body[i : i + 1000] for i in range(0, len(body), 1000)])
    assert status == 201, answer
    assert answer["inserted"] == 300

    status, answer = post_chunked(
        base, token, [compressed[i : i + 100] for i in range(0, len(compressed), 100)], **{"Content-Encoding": "gzip"}
    )
    assert status == 201, answer
    assert answer["duplicates"] == 300 and answer["inserted"] == 0
    assert logs_db.count_documents({}) == 300
