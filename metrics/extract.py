"""Extraction of model metrics from a log, at intake: what a log's numbers are, under which names, for which model.

Three places hold metrics, read in this order (a later one wins for the same name):

1. the message: `Name: number` and `name=number` pairs (spaces allowed around `:` and `=`) whose
   name is in the admin's list (`MetricName`), matched case-insensitively and stored under the
   list's spelling. A name is a whole token of letters, digits, `_` and `-` (`val_loss=` is not
   `loss=`), so `User: 4` is no metric unless someone lists "User";
2. `context.metrics`: every numeric leaf, any name (nested keys joined by `/`: `val/loss`);
3. `context.metric`: the same, which is where OTLP puts attributes named `metric.*`.

A number is decimal with an optional sign, fraction and exponent (`-1.5e-3`). Not a metric: a
number followed by a letter, `%` or a comma or point and a digit (`12ms`, `95%`, `0,27`: a
unit, or a decimal comma, whose meaning we would guess), NaN and infinities (`1e999`). A name
repeated in one message: the last value wins (a log reports one value per metric).

No user text becomes a regular expression: the one pattern is ours; names are looked up in a dict.
"""

import math
import re
import threading
import time
from collections.abc import Iterator

from retrieval import querysyntax

# A token, its separator and a number; the lookbehind makes the name a whole token.
PAIR = re.compile(
    r"(?<![\w-])([A-Za-z][\w-]{0,99})\s*[:=]\s*([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
    r"(?![\w%]|[.,][0-9])"
)
NAMES_TTL_SECONDS = 60
MAX_METRICS_PER_LOG = 50
MAX_NAME_LENGTH = 100
MAX_MODEL_LENGTH = 200
NAME_SEPARATOR = "/"
CONTEXT_KEYS = ("metrics", "metric")


class _Names:
    """The admin's names, casefolded -> canonical, read from SQL at most once per NAMES_TTL_SECONDS per process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.names: dict[str, str] = {}
        self.read_at = -math.inf

    def get(self) -> dict[str, str]:
        if time.monotonic() - self.read_at > NAMES_TTL_SECONDS:
            with self.lock:
                if time.monotonic() - self.read_at > NAMES_TTL_SECONDS:
                    from metrics.models import MetricName

                    self.names = {name.casefold(): name for name in MetricName.objects.values_list("name", flat=True)}
                    self.read_at = time.monotonic()
        return self.names

    def forget(self) -> None:
        """Read the list again on next use (after an admin change, in this process)."""
        self.read_at = -math.inf


names = _Names()


def from_message(message: str, known: dict[str, str]) -> dict[str, float]:
    """The listed metrics of a message, canonical name -> value (the last of a repeated name)."""
    found: dict[str, float] = {}
    if ":" not in message and "=" not in message:
        return found
    for name, number in PAIR.findall(message):
        canonical = known.get(name.casefold())
        if canonical is not None:
            value = float(number)
            if math.isfinite(value):
                found[canonical] = value
    return found


def leaves(tree: dict, prefix: str = "") -> Iterator[tuple[str, float]]:
    """The numeric leaves of a context subtree as (name, value); booleans are not numbers."""
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from leaves(value, name + NAME_SEPARATOR)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            if math.isfinite(number) and len(name) <= MAX_NAME_LENGTH:
                yield name, number


def extract(document: dict, known: dict[str, str]) -> dict[str, float]:
    """A log document's metrics (see the module docstring), at most MAX_METRICS_PER_LOG."""
    found = from_message(document.get("message") or "", known)
    context = document.get("context")
    if isinstance(context, dict):
        for key in CONTEXT_KEYS:
            tree = context.get(key)
            if isinstance(tree, dict):
                for name, value in leaves(tree):
                    found[known.get(name.casefold(), name)] = value
    if len(found) > MAX_METRICS_PER_LOG:
        found = dict(list(found.items())[:MAX_METRICS_PER_LOG])
    return found


def model_of(document: dict) -> str:
    """The log's model as the search's `model:` term reads it (`querysyntax.model_of`), at most MAX_MODEL_LENGTH."""
    return querysyntax.model_of(document)[:MAX_MODEL_LENGTH]
