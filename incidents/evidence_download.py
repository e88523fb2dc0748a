"""How evidence files are served. The admin and the API both serve them this way, so no
client ever renders hostile content."""

from django.http import FileResponse, HttpResponse

from incidents.models import Evidence


def evidence_download_response(evidence: Evidence) -> FileResponse:
    """The file as an attachment under a neutral type."""
    response = FileResponse(
        evidence.file.open("rb"),
        as_attachment=True,
        # Quarantined files get ".quarantined" appended: a double click opens nothing.
        filename=evidence.download_filename,
        content_type="application/octet-stream",
    )
    return harden(response)


def harden(response: HttpResponse) -> HttpResponse:
    """Forbid the browser to sniff the type, run anything in the file or keep a copy."""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
