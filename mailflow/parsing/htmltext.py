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


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities come out unescaped in data
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skipping = 0
        self.quote_depth = 0
        self.pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
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
