"""Content type from a file's first bytes, never from its name or the sender's claim."""

PREVIEWABLE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

SNIFF_BYTES = 2048

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"MZ", "application/x-msdownload"),
    (b"\x7fELF", "application/x-executable"),
    (b"\x1f\x8b", "application/gzip"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
)

# Markup a browser would execute if it ever rendered the file: reported as such so no code
# path mistakes it for harmless text.
_MARKUP = (
    (b"<svg", "image/svg+xml"),
    (b"<!doctype html", "text/html"),
    (b"<html", "text/html"),
    (b"<head", "text/html"),
    (b"<body", "text/html"),
    (b"<script", "text/html"),
    (b"<iframe", "text/html"),
    (b"<meta", "text/html"),
)


def detect_content_type(head: bytes) -> str:
    """Best guess for the bytes at the start of a file (pass at least SNIFF_BYTES)."""
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "image/heic" if head[8:12] in (b"heic", b"heix", b"mif1", b"msf1") else "video/mp4"
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lowered.startswith(b"<?xml") and b"<svg" in lowered:
        return "image/svg+xml"
    for marker, content_type in _MARKUP:
        if lowered.startswith(marker):
            return content_type
    if _is_text(head):
        return "text/plain"
    return "application/octet-stream"


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sniff window is still text.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


# What an analyst can open without running anything: the answer page accepts only these.
HARMLESS_TYPES = frozenset(
    {*PREVIEWABLE_IMAGE_TYPES, "image/heic", "application/pdf", "text/plain"}
)
# Names Windows, macOS, a Linux desktop or an office suite would execute (or open with
# macros) on a double click, whatever the bytes look like: a script, a shortcut or a
# Windows shell file (.library-ms points Explorer at an attacker's share) is plain text
# or XML to the sniffer. Disk images mount and show their files as if they were local.
DANGEROUS_EXTENSIONS = frozenset(
    """
    exe com scr pif bat cmd msi msp msc dll cpl sys drv ocx lnk url scf inf reg
    library-ms searchconnector-ms appref-ms settingcontent-ms website desktop
    js jse vbs vbe wsf wsh ps1 psm1 psd1 hta htm html xhtml shtml svg mht mhtml xml xsl
    jar class py pl rb sh bash zsh command app dmg pkg deb rpm apk iso img vhd vhdx
    docm dotm xlsm xltm xlam pptm potm ppam sldm one chm rtf
    zip rar 7z gz tgz bz2 xz tar cab ace arj z lzh
    """.split()  # noqa: SIM905 (a word list reads better than 80 quoted strings)
)


def file_extension(filename: str) -> str:
    """The extension the operating system acts on, lower-case ("" for none). Windows
    ignores trailing dots and spaces, so "evil.lnk. ." opens as a shortcut; only the last
    extension counts, so "invoice.pdf.lnk" is one too."""
    name = filename.rstrip(". ")
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def quarantine_reason(detected_content_type: str, filename: str) -> str:
    """Why a file should only ever be downloaded, never opened or previewed ("" when it
    is harmless): its bytes are not a known harmless type, or its name would run it."""
    extension = file_extension(filename)
    if extension in DANGEROUS_EXTENSIONS:
        return f"a .{extension} file can run code when opened"
    if detected_content_type not in HARMLESS_TYPES:
        return f"its content is {detected_content_type}, not an image, PDF or text"
    return ""
