"""HTML mail bodies as plain text, for reading an answer from an HTML-only reply.

Pure string work with the standard library's tolerant parser: nothing is fetched, nothing
is executed, and the result is text that the admin escapes like any other."""

import re
from html import unescape
from html.parser import HTMLParser

MAX_HTML_CHARS = 2_000_000

# Elements whose content is never text a person wrote.
_SKIPPED = {"script", "style", "title", "template", "svg", "math", "object", "iframe", "noscript"}
_BLOCKS = {
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
    "fieldset", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "ul",
}  # fmt: skip
# Quotes that clients mark without a <blockquote>. The element itself is the quote:
# Spark's reply section, Yahoo's quoted original, Thunderbird's "... wrote:" line.
_VOID = {"br", "hr", "img", "wbr", "input", "meta", "link", "col", "area", "base", "source"}
_QUOTE_NAMES = {"messagereplysection"}
_QUOTE_CLASSES = {"moz-cite-prefix"}
# Outlook's header block ("From: ... Sent: ...") stands before the original, which is not
# inside it: everything from the block onwards is the quote.
_QUOTE_REST_IDS = {"divrplyfwdmsg"}
_QUOTE_REST_CLASSES = {"outlookmessageheader"}


def _quote_marker(attrs: list) -> str | None:
    """ "element" or "rest" when the attributes mark a quote, else None."""
    values = {name: (value or "").lower() for name, value in attrs if name}
    classes = set(values.get("class", "").split())
    ident = values.get("id", "")
    if ident in _QUOTE_REST_IDS or classes & _QUOTE_REST_CLASSES:
        return "rest"
    # Yahoo numbers its id ("yahoo_quoted_0123456789") and may prefix both
    # ("ydp3f2a1b0cyahoo_quoted").
    if (
        values.get("name") in _QUOTE_NAMES
        or classes & _QUOTE_CLASSES
        or "yahoo_quoted" in ident
        or any(c.endswith("yahoo_quoted") for c in classes)
    ):
        return "element"
    return None


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities come out unescaped in data
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skipping = 0
        self.quote_depth = 0
        self.pre_depth = 0
        # Open quote-marking elements: [tag, how many of that tag are open inside it].
        self.marked: list[list] = []
        self.rest_quoted = False

    def _open_marked(self, tag: str, attrs: list) -> None:
        for marked in self.marked:
            if marked[0] == tag:
                marked[1] += 1
        marker = _quote_marker(attrs)
        if marker == "rest" and not self.rest_quoted:
            self._end_line()
            self.rest_quoted = True
            self.quote_depth += 1
        elif marker == "element":
            self._end_line()
            self.marked.append([tag, 1])
            self.quote_depth += 1

    def _close_marked(self, tag: str) -> None:
        for marked in list(self.marked):
            if marked[0] == tag:
                marked[1] -= 1
                if marked[1] == 0:
                    self._end_line()
                    self.marked.remove(marked)
                    self.quote_depth = max(0, self.quote_depth - 1)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in _SKIPPED and tag not in _VOID:
            self._open_marked(tag, attrs)
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag == "br":
            self._end_line(blank=True)
        elif tag in _BLOCKS:
            self._end_line()
            if tag == "blockquote":
                self.quote_depth += 1
            elif tag == "pre":
                self.pre_depth += 1
            elif tag == "li":
                self.current.append("- ")
            elif tag in {"td", "th"}:
                self.current.append(" ")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        # <br/>, <hr/>: void elements have no end tag to balance.
        if tag not in _SKIPPED:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self._close_marked(tag)
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self._end_line()
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            elif tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.pre_depth:
            # Preformatted text keeps its own line breaks.
            *complete, rest = data.split("\n")
            for piece in complete:
                self.current.append(piece)
                self._end_line()
            self.current.append(rest)
        else:
            self.current.append(data)

    def _end_line(self, *, blank: bool = False) -> None:
        text = re.sub(r"\s+", " ", "".join(self.current)).strip()
        self.current = []
        if not text:
            # Block boundaries alone make no empty lines; a <br> on its own (Gmail's
            # <div><br></div>) is the author's blank line.
            if blank:
                self.lines.append("")
        else:
            # Quoted mail keeps a "> " prefix, so quote stripping recognises it as in text mail.
            self.lines.append("> " * self.quote_depth + text)

    def text(self) -> str:
        self._end_line()
        joined = "\n".join(self.lines)
        return re.sub(r"\n{3,}", "\n\n", joined).strip()


def html_to_text(html: str) -> str:
    """Readable text of an HTML body: scripts and styles dropped, blocks on their own
    lines, entities unescaped, blockquotes prefixed with "> "."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html[:MAX_HTML_CHARS])
        extractor.close()
    except Exception:
        # The parser is tolerant, but some malformed declarations have made it raise;
        # a crude tag strip of the whole input is better than nothing.
        without_scripts = re.sub(
            r"<(script|style)\b.*?</\1\s*>", " ", html[:MAX_HTML_CHARS], flags=re.S | re.I
        )
        text = unescape(re.sub(r"<[^>]*>", " ", without_scripts))
        return re.sub(r"[ \t]+", " ", text).strip()
    return extractor.text()
