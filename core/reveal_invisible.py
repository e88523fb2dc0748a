"""Analyst pages show invisible characters instead of obeying them.

A name or title written by an outsider can carry a right-to-left override or zero-width
characters ("invoice\u202efdp.exe" reads as "invoiceexe.pdf"). Every admin page shows such
text somewhere: list cells, change pages, breadcrumbs, inlines, the timeline, select
options, messages, the history. Rather than wrapping each of those, this rewrites the text
of the admin's HTML once, on its way out: each invisible character becomes a visible
marker such as ⟨U+202E⟩.

Form values are left exactly as stored: attributes (an input's value) and the contents of
<textarea>, <script> and <style> are not touched, so an analyst who saves a form saves
what was there and never the markers. The admin's autocomplete answers (JSON, shown as
text by the select widget) get the same markers.
"""

import json
import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from core.text import has_invisible, reveal_invisible

# What is kept as it is: raw-text elements with their contents, comments, and tags with
# their attributes (Django escapes ">" in attribute values, so a tag ends at the first ">").
_NOT_TEXT = re.compile(
    r"<(script|style|textarea)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>", re.DOTALL | re.IGNORECASE
)


def reveal_in_html(html: str) -> str:
    """The page with invisible characters in its text shown as markers."""
    if not has_invisible(html):
        return html
    parts = []
    position = 0
    for match in _NOT_TEXT.finditer(html):
        parts.append(reveal_invisible(html[position : match.start()]))
        parts.append(match.group())
        position = match.end()
    parts.append(reveal_invisible(html[position:]))
    return "".join(parts)


class RevealInvisibleInAdminMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(reverse("admin:index")) or response.streaming:
            return response
        content_type = response.get("Content-Type", "")
        if content_type.startswith("text/html"):
            _rewrite(response, reveal_in_html)
        elif content_type.startswith("application/json") and request.path == reverse(
            "admin:autocomplete"
        ):
            _rewrite(response, _reveal_in_autocomplete)
        return response


def _rewrite(response: HttpResponse, reveal: Callable[[str], str]) -> None:
    charset = response.charset or "utf-8"
    text = response.content.decode(charset, errors="replace")
    revealed = reveal(text)
    if revealed != text:  # most pages carry no invisible character: left byte for byte
        response.content = revealed.encode(charset)
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))


def _reveal_in_autocomplete(body: str) -> str:
    # JSON escapes the characters themselves (\u202e): read it, mark the texts, write it.
    try:
        data = json.loads(body)
    except ValueError:
        return body
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list) or not any(
        isinstance(result, dict) and has_invisible(str(result.get("text", "")))
        for result in results
    ):
        return body
    for result in results:
        if isinstance(result, dict) and isinstance(result.get("text"), str):
            result["text"] = reveal_invisible(result["text"])
    return json.dumps(data)
