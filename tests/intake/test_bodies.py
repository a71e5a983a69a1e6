"""Ingest request bodies: length or chunked, gzip or not, bounded either way."""

import gzip
import io

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.test import RequestFactory

from intake.bodies import BodyError, read_body

BODY = b'{"logs": []}\n' * 1000


def posted(body: bytes, **headers: str) -> WSGIRequest:
    return RequestFactory().post("/api/v1/logs", data=body, content_type="application/json", headers=headers)


def chunked(body: bytes) -> WSGIRequest:
    """As gunicorn hands over a chunked request: no Content-Length, the input de-chunked and terminated."""
    request = RequestFactory().post("/api/v1/logs", data=b"", content_type="application/json")
    request.META.pop("CONTENT_LENGTH", None)
    request.META.update({"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True})
    return request


def test_a_body_is_read_as_sent_or_inflated_when_gzip():
    assert read_body(posted(BODY), limit=len(BODY)) == BODY
    assert read_body(posted(gzip.compress(BODY), content_encoding="gzip"), limit=len(BODY)) == BODY
    assert read_body(posted(gzip.compress(BODY), content_encoding=" GZIP "), limit=len(BODY)) == BODY


def test_a_chunked_body_is_read_to_its_end():
    assert read_body(chunked(BODY), limit=len(BODY)) == BODY


def test_a_chunked_gzip_body_is_inflated():
    request = chunked(gzip.compress(BODY))
    request.META["HTTP_CONTENT_ENCODING"] = "gzip"
    assert read_body(request, limit=len(BODY)) == BODY


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(lambda: posted(BODY), id="length over the limit"),
        pytest.param(lambda: chunked(BODY), id="chunked past the limit"),
        pytest.param(lambda: posted(gzip.compress(BODY), content_encoding="gzip"), id="inflates past the limit"),
    ],
)
def test_past_the_limit_is_413(request_):
    with pytest.raises(BodyError) as caught:
        read_body(request_(), limit=len(BODY) - 1)
    assert caught.value.status == 413 and "split the batch" in str(caught.value)


def test_a_gzip_bomb_is_413_and_never_inflated_whole():
    bomb = gzip.compress(b" " * (512 * 2**20))  # 512 MB of spaces in about 500 KB
    with pytest.raises(BodyError) as caught:
        read_body(posted(bomb, content_encoding="gzip"), limit=16 * 2**20)
    assert caught.value.status == 413


@pytest.mark.parametrize(
    ("body", "headers", "status", "says"),
    [
        (b"not gzip", {"content_encoding": "gzip"}, 400, "not whole gzip"),
        (gzip.compress(BODY)[:-4], {"content_encoding": "gzip"}, 400, "not whole gzip"),
        (BODY, {"content_encoding": "br"}, 415, "'br' is not supported"),
    ],
)
def test_a_body_that_is_not_what_its_headers_say_is_refused_naming_why(body, headers, status, says):
    with pytest.raises(BodyError) as caught:
        read_body(posted(body, **headers), limit=len(BODY))
    assert caught.value.status == status and says in str(caught.value)


def test_a_content_length_that_is_not_a_number_is_400():
    request = posted(BODY)
    request.META["CONTENT_LENGTH"] = "12abc"
    with pytest.raises(BodyError, match="Content-Length is not a number") as caught:
        read_body(request, limit=len(BODY))
    assert caught.value.status == 400


def test_a_chunked_body_the_server_did_not_dechunk_is_411_saying_so():
    # As Django's runserver (make run) hands it over: no Content-Length, no wsgi.input_terminated.
    request = RequestFactory().post(
        "/api/v1/logs", data=b"", content_type="application/json", headers={"transfer-encoding": "chunked"}
    )
    request.META.pop("CONTENT_LENGTH", None)
    with pytest.raises(BodyError, match="cannot read a chunked body") as caught:
        read_body(request, limit=len(BODY))
    assert caught.value.status == 411
