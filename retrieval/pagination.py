"""Pagination that never counts the whole result.

Counting is a full scan at millions of logs (and the ORM's count() pipeline is
refused by FerretDB), so a page fetches one row more than it shows: that row
says whether a next page exists, and the count is "rows up to here".
"""

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.utils.functional import cached_property


class WindowPaginator(Paginator):
    def __init__(self, object_list, per_page, page_number=1, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        try:
            self.page_number = max(1, int(page_number))
        except (TypeError, ValueError):
            self.page_number = 1

    @cached_property
    def _window(self) -> list:
        bottom = (self.page_number - 1) * self.per_page
        return list(self.object_list[bottom : bottom + self.per_page + 1])

    @cached_property
    def count(self) -> int:
        """Rows before this page, plus this page, plus one if a next page exists."""
        return (self.page_number - 1) * self.per_page + len(self._window)

    def validate_number(self, number):
        try:
            number = int(number)
        except (TypeError, ValueError) as exc:
            raise PageNotAnInteger("That page number is not an integer") from exc
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        return number

    def page(self, number) -> Page:
        number = self.validate_number(number)
        if number != self.page_number:
            raise EmptyPage("This paginator serves one page only")
        return self._get_page(self._window[: self.per_page], number, self)
