"""A log's metric chips (templates/retrieval/_row.html) and the chart page's numbers."""

from django import template

from metrics.extract import model_of
from metrics.pages import chart_url
from retrieval.query import LogRow

register = template.Library()


@register.simple_tag
def metric_chart_url(name: str, row: LogRow) -> str:
    """The chart of `name` for the row's user and model (as intake named it), around the row's time."""
    model = model_of({"context": row.context, "logger": row.logger})
    return chart_url(name, row.user_id, model, row.timestamp)


@register.filter
def metric_value(value: float) -> str:
    """Six significant digits: 0.277366, 1.5e-05, 12345.7."""
    return f"{value:.6g}"
