"""What LogRetrievalHandler costs the calling thread per `logger.info(...)`, against logging.NullHandler.

    .venv/bin/python bench/handler.py [--rounds 20] [--calls 10000] [--url URL --token KEY]

Each call is timed on its own (perf_counter_ns); p50 and p99 are over every call of every
round. The handler's thread sends for real: by default to a stub HTTP server in another
process that reads each body and answers 201 (so only the handler's own thread competes with
the caller for the GIL, as in a program sending to a remote server); `--url` sends to a real
app instead. The queue is flushed between rounds, so the queue (10,000) never fills.
"""

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from logretrieval_handler import LogRetrievalHandler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from devservices.processes import free_port, wait_until  # noqa: E402


class Stub(BaseHTTPRequestHandler):
    """Reads the batch and answers 201 like the app (counts only)."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        count = len(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["logs"])
        body = json.dumps({"inserted": count, "duplicates": 0}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def call_times(logger: logging.Logger, calls: int, rounds: int, between: Callable[[], None]) -> list[int]:
    """Nanoseconds of each logger.info call, `rounds` x `calls` of them."""
    times: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for step in range(calls):
            started = clock()
            logger.info("step %d: loss=%.4f", step, 0.25, extra={"user_id": 4, "context": {"step": step}})
            times.append(clock() - started)
        between()
    return times


def percentiles_us(times: list[int]) -> tuple[float, float]:
    cuts = statistics.quantiles(times, n=100)
    return cuts[49] / 1000, cuts[98] / 1000


def measure(handler: logging.Handler, calls: int, rounds: int, between: Callable[[], None]) -> tuple[float, float]:
    logger = logging.Logger("bench.trainer", level=logging.INFO)  # outside logging's tree: no other handlers
    logger.addHandler(handler)
    call_times(logger, min(calls, 2000), 1, between)  # warm up
    return percentiles_us(call_times(logger, calls, rounds, between))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--url", help="a running app's /api/v1/logs (default: a stub server answering 201)")
    parser.add_argument("--token", default="bench")
    parser.add_argument("--stub-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stub_port:
        ThreadingHTTPServer(("127.0.0.1", args.stub_port), Stub).serve_forever()
        return

    stub = None
    url = args.url
    if url is None:
        port = free_port()
        stub = subprocess.Popen([sys.executable, __file__, "--stub-port", str(port)])
        wait_until(lambda: stub.poll() is None and probe(port), "the stub server", timeout=30)
        url = f"http://127.0.0.1:{port}/api/v1/logs"
    try:
        baseline = measure(logging.NullHandler(), args.calls, args.rounds, lambda: None)
        with open(os.devnull, "w") as devnull:
            stream = measure(logging.StreamHandler(devnull), args.calls, args.rounds, lambda: None)
        handler = LogRetrievalHandler(url, args.token, max_queue=10_000)
        sending = measure(handler, args.calls, args.rounds, lambda: handler.flush(timeout=60))
        handler.close()
    finally:
        if stub is not None:
            stub.terminate()
            stub.wait(timeout=10)

    target = "a stub HTTP server in another process (201)" if args.url is None else url
    print(f"{args.rounds} rounds of {args.calls:,} logger.info calls; the handler sends to {target}")
    print(f"handler: sent {handler.sent:,}, dropped {handler.dropped:,}, rejected {handler.rejected:,}")
    print("| handler on the logger | p50 | p99 | p50 ratio |")
    print("|---|---|---|---|")
    for name, (p50, p99) in (
        ("logging.NullHandler (baseline)", baseline),
        ("logging.StreamHandler to /dev/null", stream),
        ("LogRetrievalHandler", sending),
    ):
        print(f"| {name} | {p50:.1f} µs | {p99:.1f} µs | {p50 / baseline[0]:.2f}x |")


def probe(port: int) -> bool:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
        return response.status == 204


if __name__ == "__main__":
    main()
