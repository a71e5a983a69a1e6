"""The saved-search form: a name and the search's query string (its link)."""

from typing import TypeVar

from django import forms
from django.http import QueryDict

from access.scope import Scope
from retrieval.filters import LogFilterSet
from retrieval.models import SavedSearch

# Format help on the page's inputs; LogFilterSet's error messages list the same formats.
INPUT_HINTS = {
    "from": {
        "placeholder": "now-6h or 2026-12-01T09:00",
        "help": "ISO 8601 (2026-12-01T09:00, UTC unless an offset like +02:00 is given), a date, or relative: "
        "now-6h, now-2d/d, yesterday.",
    },
    "to": {"placeholder": "now or 2026-12-01T18:00", "help": "Exclusive; the same formats. Empty: now."},
    "date": {"placeholder": "2026-12-01", "help": "YYYY-MM-DD: that whole UTC day, instead of From/To."},
    "user_id": {"placeholder": "4 or 1,4", "help": "One or several, comma-separated."},
}


AnyForm = TypeVar("AnyForm", bound=forms.Form)


def search_query_string(data: QueryDict) -> str:
    """The search's parameters that have a value, without the cursor: the same search from its first page."""
    kept = QueryDict(mutable=True)
    for name, values in data.lists():
        if name != "cursor":
            kept.setlist(name, [value for value in values if value])
    return kept.urlencode()


def add_input_hints(form: AnyForm) -> AnyForm:
    """The search form (or another with some of its fields: the metrics chart's) with placeholders, help text and
    the relative-time suggestions on its inputs."""
    for name, hints in INPUT_HINTS.items():
        if name not in form.fields:
            continue
        field = form.fields[name]
        field.help_text = hints["help"]
        field.widget.attrs.update(placeholder=hints["placeholder"], autocomplete="off")
        field.widget.attrs["aria-describedby"] = f"id_{name}-help"
        if name in ("from", "to"):
            field.widget.attrs["list"] = "relative-times"
    return form


class SavedSearchForm(forms.ModelForm):
    class Meta:
        model = SavedSearch
        fields = ["name", "query"]
        widgets = {"query": forms.HiddenInput}
        labels = {"name": "Name this search"}

    def __init__(self, *args: object, scope: Scope, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.scope = scope

    def clean_name(self) -> str:
        return " ".join(self.cleaned_data["name"].split())

    def clean_query(self) -> str:
        query = search_query_string(QueryDict(self.cleaned_data["query"]))
        if not LogFilterSet(QueryDict(query), scope=self.scope).is_valid():
            raise forms.ValidationError("This search has errors: correct it before saving it.")
        return query
