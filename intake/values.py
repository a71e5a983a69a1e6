"""What a record's text and context may hold: what every hot store takes as it is (BSON, FerretDB's jsonb)."""

import math

MAX_CONTEXT_DEPTH = 5
MAX_CONTEXT_KEYS = 200
# Items of one list in a context (a list of lists counts each); a per-step metric history belongs in logs.
MAX_CONTEXT_LIST_ITEMS = 1000
BSON_INT64 = range(-(2**63), 2**63)


def check_unicode(text: str) -> None:
    """Text every hot store takes: BSON stores UTF-8, so a lone surrogate ("\\ud800" in JSON) cannot be encoded,
    and FerretDB on PostgreSQL refuses NUL in any string (jsonb, SQLSTATE 22P05); either would fail the insert."""
    if "\x00" in text:
        raise ValueError("May not contain NUL characters (\\u0000).")
    if text.isascii():
        return
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise ValueError(f"Not valid Unicode: a lone surrogate at character {exc.start}.") from None


def printable(name: str) -> str:
    """A field name fit for the error answer (which is UTF-8): lone surrogates escaped."""
    return name.encode(errors="backslashreplace").decode()[:50]


def check_context(value: object, depth: int = 0) -> None:
    """A context is a JSON object whose keys are plain names (no `$operator`, no dotted path),
    holding only what BSON stores as it is: UTF-8 strings, 64-bit integers, finite numbers."""
    if depth > MAX_CONTEXT_DEPTH:
        raise ValueError(f"Nested deeper than {MAX_CONTEXT_DEPTH} levels.")
    if isinstance(value, dict):
        if len(value) > MAX_CONTEXT_KEYS:
            raise ValueError(f"More than {MAX_CONTEXT_KEYS} keys.")
        for key, item in value.items():
            if not key or key.startswith("$") or "." in key or "\x00" in key:
                raise ValueError(
                    f"Key {key[:50]!r} is not allowed: keys may not be empty, start with $ or contain dots or NUL."
                )
            check_unicode(key)
            # Most values are plain leaves: tell them apart without a call per value (a third of a record's check).
            kind = type(item)
            if depth == MAX_CONTEXT_DEPTH or not (
                (kind is str and item.isascii() and "\x00" not in item)
                or kind is bool
                or item is None
                or (kind is int and item in BSON_INT64)
                or (kind is float and math.isfinite(item))
            ):
                check_context(item, depth + 1)
    elif isinstance(value, list):
        if len(value) > MAX_CONTEXT_LIST_ITEMS:
            raise ValueError(f"A list of more than {MAX_CONTEXT_LIST_ITEMS} items.")
        for item in value:
            check_context(item, depth + 1)
    elif isinstance(value, str):
        check_unicode(value)
    elif isinstance(value, int) and value not in BSON_INT64:
        raise ValueError(f"The integer {str(value)[:30]} does not fit in 64 bits.")
    elif isinstance(value, float) and not math.isfinite(value):
        # JSON has no NaN or Infinity (1e999 parses as inf); searches could not answer them.
        raise ValueError("Numbers must be finite.")
    elif not (value is None or isinstance(value, str | int | float | bool)):
        raise ValueError("Only JSON values are allowed.")
