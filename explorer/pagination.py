"""Pagination that never counts the whole result.

Counting is a full scan at millions of logs (and the ORM's count() pipeline is
refused by FerretDB), so a page fetches one row more than it shows: that row
says whether a next page exists, and the count is "rows up to here". So a page
knows its own rows and whether the next page exists, never the number of pages:
it offers "previous" and "next" only, and a page past the end is `past_end`.
"""

from typing import Any

from django.core.paginator import EmptyPage, InvalidPage, Page, PageNotAnInteger, Paginator
from django.db.models import Model, QuerySet
from django.utils.functional import cached_property

# Deeper pages are refused, not sent: MongoDB's skip is a 64-bit integer (p=10**23 was a
# 500), and skipping 100 million logs is a scan nobody waits for; a narrower search is quicker.
MAX_PAGE_NUMBER = 1_000_000


def parse_page_number(value: object) -> int:
    """A page number from 1 to MAX_PAGE_NUMBER, else PageNotAnInteger or EmptyPage (both InvalidPage)."""
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise PageNotAnInteger("That page number is not an integer.") from exc
    if not 1 <= number <= MAX_PAGE_NUMBER:
        raise EmptyPage(f"Page numbers go from 1 to {MAX_PAGE_NUMBER:,}.")
    return number


class WindowPaginator(Paginator):
    def __init__(
        self, object_list: QuerySet[Model], per_page: int | str, page_number: object = 1, **kwargs: Any
    ) -> None:
        super().__init__(object_list, per_page, **kwargs)
        try:
            self.page_number = parse_page_number(page_number)
        except InvalidPage:
            # page() refuses it (the admin then shows page 1); the window must not send its skip.
            self.page_number = 1

    @cached_property
    def _window(self) -> list[Model]:
        bottom = (self.page_number - 1) * self.per_page
        return list(self.object_list[bottom : bottom + self.per_page + 1])

    @property
    def past_end(self) -> bool:
        """A page after the last one. Which page is the last is not known without counting."""
        return self.page_number > 1 and not self._window

    @cached_property
    def count(self) -> int:
        """Rows before this page, plus this page, plus one if a next page exists."""
        return (self.page_number - 1) * self.per_page + len(self._window)

    def validate_number(self, number: int | float | str) -> int:
        return parse_page_number(number)

    def page(self, number: int | str) -> Page:
        number = self.validate_number(number)
        if number != self.page_number:
            raise EmptyPage("This paginator serves one page only")
        # Page, as Paginator._get_page makes it (django-stubs do not declare that hook).
        return Page(self._window[: self.per_page], number, self)
