"""Webhook deliveries to a real HTTP receiver (a server thread in the test): the body signed with the rule's
secret, a 500 retried by a real Celery worker with backoff, and the attempts in the delivery log."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from alerts import notify, states
from alerts.models import Delivery
from tests.access_support import user_granted
from tests.alert_support import NOW, recall, rule
from tests.archive_support import start_worker, wait_for


class Receiver:
    """Answers each POST with the next of `codes` (the last one repeats), keeping the requests."""

    def __init__(self, codes: list[int]):
        self.codes, self.requests = list(codes), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.headers, body))  # names case-insensitive
                code = receiver.codes.pop(0) if len(receiver.codes) > 1 else receiver.codes[0]
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_of():
    made = []

    def make(codes: list[int]) -> Receiver:
        made.append(Receiver(codes))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def expected_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.django_db(databases=["default", "logs"])
@pytest.mark.usefixtures("metric_names")
def test_a_webhook_gets_the_transition_signed_with_the_rules_secret(logs_db, receiver_of):
    receiver = receiver_of([200])
    owner = user_granted("owner", read=[1])
    hooked = rule(owner, email="", webhook_url=receiver.url)
    recall(1, 10, 0.5)
    states.tick(NOW)
    delivery = Delivery.objects.get()
    assert notify.deliver(delivery.pk).status == "sent"
    assert notify.deliver(delivery.pk).status is None
    [(headers, body)] = receiver.requests
    assert headers["X-LogRetrieval-Signature"] == expected_signature(hooked.secret, body)
    assert headers["X-LogRetrieval-Signature"] != expected_signature("another secret", body)
    assert headers["Content-Type"] == "application/json"
    sent = json.loads(body)
    assert (sent["state"], sent["user_id"], sent["model"], sent["value"]) == ("firing", 1, "resnet", 0.5)
    assert sent["rule"]["id"] == hooked.pk
    chart = urlsplit(sent["links"]["chart"])
    assert (chart.scheme, chart.netloc, chart.path) == ("http", "127.0.0.1:8000", "/charts")
    assert {k: v for k, v in parse_qs(chart.query).items() if k not in ("from", "to")} == {
        "name": ["Recall"],
        "user_id": ["1"],
        "model": ["resnet"],
        "agg": ["avg"],
    }
    logs = urlsplit(sent["links"]["logs"])
    assert logs.path == "/" and parse_qs(logs.query)["user_id"] == ["1"]
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.status_code, delivery.last_error) == (1, 200, "")


@pytest.mark.django_db(databases=["default", "logs"], transaction=True)
@pytest.mark.usefixtures("metric_names")
def test_a_webhook_answering_500_is_retried_by_the_worker_and_the_log_shows_each_attempt(
    logs_db, receiver_of, admin_client
):
    receiver = receiver_of([500, 500, 200])
    owner = user_granted("owner", read=[1])
    hooked = rule(owner, email="", webhook_url=receiver.url)
    recall(1, 10, 0.5)
    worker = start_worker(ALERTS_RETRY_BASE_SECONDS="0.2")
    try:
        states.tick(NOW)  # queues the delivery after its commit
        delivery = wait_for(
            lambda: Delivery.objects.filter(status="sent").first(), what="the delivery to succeed on its third try"
        )
    finally:
        worker.kill()
        worker.wait()
    assert (delivery.attempts, delivery.status_code, delivery.last_error) == (3, 200, "HTTP 500")
    assert len(receiver.requests) == 3
    bodies = {body for _, body in receiver.requests}
    assert len(bodies) == 1  # the same notification each time
    body = bodies.pop()
    assert all(h["X-LogRetrieval-Signature"] == expected_signature(hooked.secret, body) for h, _ in receiver.requests)
    page = admin_client.get("/admin/alerts/delivery/").content.decode()
    assert "HTTP 500" in page and ">3<" in page
