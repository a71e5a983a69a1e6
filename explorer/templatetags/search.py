import json
import re
from collections.abc import Iterable
from datetime import datetime

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from explorer.links import Params, query_url, refined, search_url, with_levels, with_term
from retrieval.query import isoformat

register = template.Library()


@register.filter
def highlight(message: str, keyword: str) -> SafeString:
    """The message, HTML-escaped, with each case-insensitive occurrence of `keyword` in <mark>."""
    if not keyword:
        return escape(message)
    parts = re.split(f"({re.escape(keyword)})", message, flags=re.IGNORECASE)
    # re.split with a group: odd indexes are the matches.
    return mark_safe("".join(f"<mark>{escape(p)}</mark>" if i % 2 else escape(p) for i, p in enumerate(parts)))  # noqa: S308


@register.filter
def log_time(moment: datetime) -> str:
    """A log's UTC time to the millisecond, the precision MongoDB stores."""
    return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}"


@register.filter
def time_tag(moment: datetime) -> SafeString:
    """A UTC time in <time>: explorer.js shows it in local time when the user chose that."""
    return format_html('<time datetime="{}">{}</time>', isoformat(moment), log_time(moment))


@register.filter
def pretty_json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@register.filter
def query_link(query_string: str) -> str:
    return query_url(query_string)


@register.simple_tag
def drill_url(params: Params, field: str, value: object) -> str:
    """The search narrowed to logs whose `field` (user_id, level or logger) is `value`."""
    if field == "user_id":
        return search_url(refined(params, user_id=str(value)))
    if field == "level":
        return search_url(with_levels(params, [str(value)]))
    return search_url(with_term(params, field, value))


@register.simple_tag
def exclude_url(params: Params, levels: Iterable[str], field: str, value: object) -> str:
    """The search without the logs whose `field` is `value` ("" when that would leave no level)."""
    if field == "level":
        rest = [level for level in levels if level != value]
        return search_url(with_levels(params, rest)) if rest else ""
    return search_url(with_term(params, field, value, exclude=True))


@register.simple_tag
def toggle_level_url(params: Params, levels: Iterable[str], level: str) -> str:
    """The legend's link: the search with `level` shown or hidden ("" when it is the only one shown)."""
    shown = set(levels)
    if level in shown:
        return exclude_url(params, levels, "level", level)
    return search_url(with_levels(params, shown | {level}))


@register.filter
def iso(moment: datetime) -> str:
    return isoformat(moment)


@register.filter
def intcomma_plain(number: int) -> str:
    """2,345: thousands separated, whatever the locale settings."""
    return f"{number:,}"


@register.filter
def tz_label(label: str) -> SafeString:
    """A field's label with its "UTC" in a `.tz-name`: explorer.js names the browser's zone there when local time is on."""
    return mark_safe(escape(label).replace("UTC", '<span class="tz-name">UTC</span>'))  # noqa: S308
