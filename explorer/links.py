"""Links of the log explorer: the search page's URL for a set of parameters, and its refinements.

Every link carries only the parameters that have a value (no `keyword=&user_id=`), and a
refinement drops the cursor: a narrower or wider search starts on its first page.
"""

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

from django.urls import reverse
from django.utils.http import urlencode

from retrieval.query import ALL_LEVELS, isoformat

Params = Mapping[str, str]
# A q value that needs no quotes: no space, quote, parenthesis or colon.
BARE_VALUE = re.compile(r'[^\s"():]+')
QUERY_PARAMETER = "q"


def search_url(params: Params) -> str:
    present = {name: value for name, value in params.items() if value not in ("", None)}
    return f"{reverse('search')}?{urlencode(present)}" if present else reverse("search")


def query_url(query_string: str) -> str:
    """The search page for an encoded query string (a saved search's), repeated parameters kept."""
    return f"{reverse('search')}?{query_string}" if query_string else reverse("search")


def refined(params: Params, **changes: str | None) -> dict[str, str]:
    """`params` with `changes` applied (None removes a parameter), on the first page."""
    result = {name: value for name, value in params.items() if name != "cursor"}
    for name, value in changes.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def zoomed(params: Params, start: datetime, end: datetime) -> dict[str, str]:
    """The same search over [start, end)."""
    return refined(params, date=None, **{"from": isoformat(start), "to": isoformat(end)})


def with_levels(params: Params, levels: Iterable[str]) -> dict[str, str]:
    chosen = [level for level in ALL_LEVELS if level in set(levels)]
    return refined(params, min_level=None, level=None if len(chosen) == len(ALL_LEVELS) else ",".join(chosen))


def with_term(params: Params, field: str, value: object, exclude: bool = False) -> dict[str, str]:
    """The search with `field:value` (or `-field:value`) added to its `q` query."""
    text = str(value)
    if not BARE_VALUE.fullmatch(text):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    term = f"{'-' if exclude else ''}{field}:{text}"
    query = params.get(QUERY_PARAMETER, "").strip()
    return refined(params, **{QUERY_PARAMETER: f"{query} {term}".strip()})
