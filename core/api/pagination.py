"""Cursor pagination: stable under inserts (a SIEM paging while incidents arrive sees no
duplicates or gaps) and no COUNT(*) over large tables. Each view names its order in
`cursor_ordering`, which must be an indexed, unique-ending key."""

from typing import TYPE_CHECKING

from rest_framework.pagination import CursorPagination

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class Cursor(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("id",)

    def get_ordering(self, request: "Request", queryset, view: "APIView") -> tuple[str, ...]:
        return tuple(getattr(view, "cursor_ordering", self.ordering))
