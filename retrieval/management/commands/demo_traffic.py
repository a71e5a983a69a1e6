"""The seed app's dummy log generator, rebuilt on the Python logging handler: live logs into a running app."""

import logging
import os
import random
import time
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from access import tokens
from access.models import WRITE, ApiToken
from retrieval.demo import ACTIONS, LEVEL_WEIGHTS, METRICS, WORDS, drifting_value, models_of
from retrieval.models import Level

STDLIB_LEVELS = {
    Level.DEBUG: logging.DEBUG,
    Level.INFO: logging.INFO,
    Level.WARNING: logging.WARNING,
    Level.ERROR: logging.ERROR,
    Level.CRITICAL: logging.CRITICAL,
}
DEMO_USERNAME = "demo"
DEMO_TOKEN_NAME = "demo_traffic"


class Command(BaseCommand):
    help = "Send demo logs to a running app through LogRetrievalHandler (stdlib logging) at a steady rate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, default=50.0, help="logs per second (default 50)")
        parser.add_argument("--users", type=int, default=5, help="user ids 1 to N (default 5, as the demo)")
        parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: Ctrl-C)")
        parser.add_argument(
            "--url",
            default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/api/v1/logs",
            help="the app's ingest endpoint",
        )
        parser.add_argument("--token", default=None, help=f"API token (default: the {DEMO_USERNAME!r} user's)")
        parser.add_argument("--seed", type=int, default=None)
        # For `make run`, which has the database: the command it prints then needs none.
        parser.add_argument(
            "--print-token", action="store_true", help="print a fresh demo token (see --token) and send nothing"
        )

    def handle(
        self,
        *args: Any,
        rate: float,
        users: int,
        seconds: float | None,
        url: str,
        token: str | None,
        seed: int | None,
        print_token: bool,
        **options: Any,
    ) -> None:
        if print_token:
            self.stdout.write(demo_token())
            return
        if rate <= 0 or users < 1:
            raise CommandError("--rate must be above 0 and --users at least 1.")
        try:
            # A development tool: requirements/dev.txt installs the handler, the image (base.txt) does not.
            from logretrieval_handler import LogRetrievalHandler
        except ImportError:
            raise CommandError("The handler is not installed: .venv/bin/pip install -e ./clients/python") from None
        handler = LogRetrievalHandler(url, token or demo_token(), flush_interval=0.5)
        # A logger of its own that does not propagate: the app's console logging is not flooded.
        logger = logging.getLogger("demo.trainer")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(handler)
        self.stdout.write(f"Sending about {rate:g} logs/s for users 1-{users} to {url}; Ctrl-C stops")
        started = time.monotonic()
        try:
            log_steadily(logger, random.Random(seed), rate, users, seconds)
        except KeyboardInterrupt:
            pass
        finally:
            logger.removeHandler(handler)
            handler.close()
        self.stdout.write(
            f"Stopped after {time.monotonic() - started:.1f} s: "
            f"sent {handler.sent}, dropped {handler.dropped}, rejected {handler.rejected}"
        )


def demo_token() -> str:
    """A fresh write-only API token of the demo user (only a hash is stored, so an earlier one cannot be
    shown again: it is replaced). It expires after a day."""
    try:
        user = get_user_model().objects.get(username=DEMO_USERNAME)
    except get_user_model().DoesNotExist:
        raise CommandError(
            f"No user {DEMO_USERNAME!r}: run `manage.py ensure_demo_user` (make run does), or pass --token."
        ) from None
    ApiToken.objects.filter(user=user, name=DEMO_TOKEN_NAME).delete()
    return tokens.create_token(user, DEMO_TOKEN_NAME, [WRITE], expires=timezone.now() + timedelta(days=1))[1]


def log_steadily(logger: logging.Logger, rng: random.Random, rate: float, users: int, seconds: float | None) -> None:
    """Log demo records at `rate` per second (on a fixed schedule, so a slow moment is caught up) until `seconds`."""
    levels = [STDLIB_LEVELS[level] for level in LEVEL_WEIGHTS]
    weights = list(LEVEL_WEIGHTS.values())
    interval = 1 / rate
    due = time.monotonic()
    end = float("inf") if seconds is None else due + seconds
    step = 0
    while (now := time.monotonic()) < end:
        if due > now:
            time.sleep(min(due, end) - now)
            continue
        step += 1
        user_id = rng.randint(1, users)
        metric, model = rng.choice(METRICS), rng.choice(models_of(user_id))
        # The original app's message: "Validated a new model, ligula. User: 4, Recall: 0.2773660126196892",
        # its value drifting as the seeded days' do (charts continue their trend).
        logger.log(
            rng.choices(levels, weights)[0],
            "%s, %s. User: %d, %s: %s",
            rng.choice(ACTIONS),
            rng.choice(WORDS),
            user_id,
            metric,
            drifting_value(user_id, model, metric, timezone.now(), rng.random()),
            extra={"user_id": user_id, "context": {"source": "demo_traffic", "step": step, "model": model}},
        )
        due += interval
