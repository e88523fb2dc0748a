"""The words the email suggests for a reply, in the person's language: "ja" or "nein" for
a German yes/no question, instead of the option keys ("yes", "no") a German reader would
not write. Each suggestion is one that `read_answer` reads back as its option."""

from mailflow.parsing.answer import read_answer

# The plain yes and no of each language the templates ship in; read_answer knows each.
YES_NO = {
    "en": ("yes", "no"),
    "de": ("ja", "nein"),
    "fr": ("oui", "non"),
    "es": ("sí", "no"),
    "nl": ("ja", "nee"),
    "it": ("sì", "no"),
}


def reply_words(options: list[dict], language: str) -> list[str]:
    """One word or phrase per option, in `language` ("de-CH": German): the language's yes
    or no for the option a yes or no means, else the option's label (as the person sees
    it), else its key; the first that read_answer reads back as that option alone."""
    base = (language or "").split("-")[0].split("_")[0].lower()
    yes, no = YES_NO.get(base, YES_NO["en"])
    words = []
    for option in options:
        key, label = str(option.get("key", "")), str(option.get("label", ""))
        for candidate in (yes, no, label.strip(), key):
            if candidate and read_answer(candidate, options).key == key:
                words.append(candidate)
                break
        else:
            words.append(key)
    return words
