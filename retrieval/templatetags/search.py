import re
from datetime import datetime

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

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
