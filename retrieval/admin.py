from django.contrib import admin, messages
from django.http import QueryDict
from django.urls import reverse
from django.utils.http import urlencode

from logsite.admin import ReadOnlyAdminMixin
from retrieval.filters import LogFilterSet
from retrieval.models import LogEntry
from retrieval.pagination import WindowPaginator

# The search parameters the admin sidebar takes; the keyword is the admin's search box ("q").
SIDEBAR_PARAMETERS = ("user_id", "date", "from", "to", "level", "min_level")
TIME_PARAMETERS = {"date", "from", "to"}


def search_data(request) -> QueryDict:
    """The shared search parameters in an admin request, under the search page's names."""
    data = QueryDict(mutable=True)
    for name in SIDEBAR_PARAMETERS:
        if name in request.GET:
            data.setlist(name, request.GET.getlist(name))
    if request.GET.get("q"):
        data["keyword"] = request.GET["q"]
    return data


class SearchFilter(admin.ListFilter):
    """The search page's filters (`LogFilterSet`) in the changelist sidebar.

    Without a time range the admin browses all hot logs; with one it covers the
    same [from, to) as the search page.
    """

    title = "search"
    template = "retrieval/admin_filter.html"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in SIDEBAR_PARAMETERS:
            if name in params:
                self.used_parameters[name] = params.pop(name)
        self.filterset = LogFilterSet(search_data(request))

    def has_output(self) -> bool:
        return True

    def choices(self, changelist):
        return []

    def expected_parameters(self) -> list[str]:
        return list(SIDEBAR_PARAMETERS)

    def queryset(self, request, queryset):
        if not self.filterset.is_valid():
            for name, errors in self.filterset.form.errors.items():
                messages.error(request, f"{name}: {' '.join(errors)}")
            return queryset.none()
        with_time = bool(TIME_PARAMETERS & set(request.GET))
        return queryset.filter(self.filterset.log_query().orm_q(with_time=with_time))


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only browsing of hot logs; stays fast at millions of rows (no counts)."""

    list_display = ("timestamp", "level", "user_id", "message")
    list_filter = (SearchFilter,)
    # The search box is the shared `keyword`; SearchFilter applies it (see get_search_results).
    search_fields = ("message",)
    search_help_text = "Case-insensitive text in the message, matched literally."
    ordering = ("-timestamp",)
    list_per_page = 100
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts are full counts
    actions = None
    change_list_template = "retrieval/admin_change_list.html"

    def get_search_results(self, request, queryset, search_term):
        # SearchFilter has already applied the keyword with the search page's meaning
        # (one literal substring), not the admin's default (every word separately).
        return queryset, False

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        # The changelist's page parameter is "p", counted from 1.
        return WindowPaginator(queryset, per_page, page_number=request.GET.get("p", 1))

    def changelist_view(self, request, extra_context=None):
        data = search_data(request)
        extra_context = {**(extra_context or {}), "search_url": f"{reverse('search')}?{urlencode(data, doseq=True)}"}
        return super().changelist_view(request, extra_context)
