"""Which attachments of a reply are evidence a person sent, and which are not."""

from django.conf import settings
from django.template.defaultfilters import filesizeformat

from mailflow.answers import UploadedFile
from mailflow.parsing import ParsedMessage

# Inline images smaller than this are signature logos, not evidence.
SIGNATURE_IMAGE_BYTES = 10 * 1024
# Machine parts of reports, never evidence a person attached.
_REPORT_PARTS = {
    "message/delivery-status",
    "message/disposition-notification",
    "text/rfc822-headers",
}


def evidence_files(msg: ParsedMessage) -> tuple[list[UploadedFile], list[str]]:
    """The attachments to file as evidence, and what could not be filed and why (too
    large). Report parts and small images embedded by Content-ID (signature logos) are
    not evidence at all. The original message keeps everything either way."""
    files, skipped = [], []
    for a in msg.attachments:
        if a.content_type in _REPORT_PARTS or (
            a.inline and a.content_type.startswith("image/") and a.size < SIGNATURE_IMAGE_BYTES
        ):
            continue
        name = a.filename or "attachment"
        if a.size > settings.EVIDENCE_MAX_BYTES or (a.size and not a.content):
            skipped.append(f"{name} ({filesizeformat(a.size)})")
        elif a.content:
            files.append(UploadedFile(a.content, name, a.content_type))
    return files, skipped
