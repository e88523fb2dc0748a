"""A rendered HTML form turned into the data a browser would post for it, untouched.

Admin tests that build their POST data by hand post what the test author thinks the page
holds; a blank extra inline row, a default the widget renders differently or a field the
page forgets then goes unnoticed. Posting back what the page rendered catches those.
"""

from html.parser import HTMLParser

# Inputs a browser leaves out of the data unless they are the button pressed.
_BUTTONS = {"submit", "button", "image", "reset"}


class _FormReader(HTMLParser):
    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.in_form = False
        self.found = False
        self.data: list[tuple[str, str]] = []
        self.buttons: dict[str, str] = {}
        self._textarea: tuple[str, list[str]] | None = None
        self._select: tuple[str, bool] | None = None
        self._options: list[tuple[str, bool]] = []
        self._option_text: list[str] | None = None
        self._option_value: str | None = None
        self._option_selected = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value if value is not None else "" for name, value in attrs}
        if tag == "form" and attributes.get("id") == self.form_id:
            self.in_form = self.found = True
            return
        if not self.in_form or "disabled" in attributes:
            return
        name = attributes.get("name")
        if tag == "input" and name:
            self._input(name, attributes)
        elif tag == "textarea" and name:
            self._textarea = (name, [])
        elif tag == "select" and name:
            self._select = (name, "multiple" in attributes)
            self._options = []
        elif tag == "option" and self._select is not None:
            self._end_option()
            self._option_value = attributes.get("value")
            self._option_selected = "selected" in attributes
            self._option_text = []

    def _input(self, name: str, attributes: dict[str, str]) -> None:
        kind = attributes.get("type", "text").lower()
        if kind in _BUTTONS:
            self.buttons[name] = attributes.get("value", "")
            return
        if kind == "file":
            return
        if kind in ("checkbox", "radio") and "checked" not in attributes:
            return
        default = "on" if kind in ("checkbox", "radio") else ""
        self.data.append((name, attributes.get("value", default)))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)
        elif self._option_text is not None:
            self._option_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.in_form:
            self.in_form = False
        elif tag == "textarea" and self._textarea is not None:
            name, parts = self._textarea
            # Browsers drop the one newline that may follow <textarea>.
            self.data.append((name, "".join(parts).removeprefix("\n")))
            self._textarea = None
        elif tag == "option":
            self._end_option()
        elif tag == "select" and self._select is not None:
            self._end_option()
            self._end_select()

    def _end_option(self) -> None:
        if self._option_text is None:
            return
        text = "".join(self._option_text).strip()
        value = self._option_value if self._option_value is not None else text
        self._options.append((value, self._option_selected))
        self._option_text = None

    def _end_select(self) -> None:
        name, multiple = self._select
        chosen = [value for value, selected in self._options if selected]
        if not multiple:
            # A single select always sends one value: the last selected, else the first.
            chosen = chosen[-1:] or [value for value, _ in self._options[:1]]
        self.data.extend((name, value) for value in chosen)
        self._select = None


def form_as_posted(html: str, form_id: str, button: str | None = None) -> dict[str, list[str]]:
    """What a browser posts for the form `form_id` on the page when nothing is changed and
    `button` (a submit button's name, e.g. "_save") is pressed."""
    reader = _FormReader(form_id)
    reader.feed(html)
    reader.close()
    assert reader.found, f"no <form id={form_id!r}> on the page"
    data: dict[str, list[str]] = {}
    for name, value in reader.data:
        data.setdefault(name, []).append(value)
    if button is not None:
        assert button in reader.buttons, f"no button {button!r}; found {sorted(reader.buttons)}"
        data[button] = [reader.buttons[button]]
    return data
