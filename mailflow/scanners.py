"""User agents of mail scanners, link previewers and scripts.

Security gateways (Microsoft Safe Links, Proofpoint, Mimecast, Barracuda, ...) fetch every
link in an email before the person sees it, and chat apps fetch links to draw a preview.
None of these is the person answering, so the answer page never takes a click from them as
an answer. The list is a heuristic on purpose: the page records answers only on a POST, so
a scanner missing here still cannot answer; the list only makes the timeline say why a
link was opened.
"""

# Lower-case substrings of the User-Agent header.
SCANNER_USER_AGENTS: tuple[str, ...] = (
    # Headless browsers and HTTP libraries (sandboxes, scripts).
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "curl/",
    "wget/",
    "go-http-client",
    "java/",
    "okhttp",
    "apache-httpclient",
    "libwww-perl",
    "node-fetch",
    "axios/",
    # Microsoft: Office "protocol discovery" before opening a link, Safe Links, Bing preview.
    "microsoft office",
    "ms-office",
    "bingpreview",
    "safelinks",
    # Email security gateways.
    "proofpoint",
    "mimecast",
    "barracuda",
    "google-safety",
    # Link previews in chat and social apps.
    "slackbot",
    "slack-imgproxy",
    "facebookexternalhit",
    "twitterbot",
    "linkedinbot",
    "whatsapp",
    "telegrambot",
    "discordbot",
    "skypeuripreview",
    "googlebot",
)


def looks_like_scanner(user_agent: str) -> bool:
    """True for a known scanner or script. Every browser sends a User-Agent, so a missing
    one is a script too."""
    agent = user_agent.strip().lower()
    if not agent:
        return True
    return any(pattern in agent for pattern in SCANNER_USER_AGENTS)
