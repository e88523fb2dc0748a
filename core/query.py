"""Addresses whose query holds a NUL character are refused, for the whole site.

A query value is an identifier: an admin filter or search word, an API filter, an answer
link's choice. PostgreSQL cannot even compare a value with NUL in it (SQLite can), so one
in the query made a 500 there and an empty list here. Refused before any view runs, with
the same 400 on both databases."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from core.text import has_nul


class RefuseNulInQueryMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any(
            has_nul(name) or any(has_nul(value) for value in values)
            for name, values in request.GET.lists()
        ):
            return HttpResponseBadRequest(
                "The address holds a NUL character (%00), which no filter or search allows.\n",
                content_type="text/plain",
            )
        return self.get_response(request)
