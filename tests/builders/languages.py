"""What the language tests share: words that give English away."""

# Words of the English email that none of the other five languages uses (names, URLs and
# the incident number aside), each as a whole word. Words they share or borrow (team,
# account, download, incident, page, was, we, me) cannot tell.
ENGLISH_WORDS = (
    "hello", "the", "this", "you", "your", "please", "answer", "reply", "replying", "with",
    "about", "security", "each", "opens", "where", "choice", "click", "one", "more",
    "attach", "files", "show", "what", "happened", "suspicious", "look", "anything", "else",
    "tell", "us", "did", "downloaded", "yes", "or", "that", "not", "sign", "attempts",
    "were", "made", "by", "confirm", "recent", "reminder", "received", "yet", "have",
    # The manager's, the approver's and the acknowledgement's words, and dates.
    # ("no", "message" and "place" are Spanish, Italian or French too.)
    "when", "from", "address", "device", "them", "their", "they", "hope", "manager",
    "asked", "got", "approval", "requested", "decide", "decision", "approve", "deny",
    "concerns", "thank", "recorded", "happens", "next", "change", "automatically", "sent",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)  # fmt: skip
