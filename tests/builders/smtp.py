"""For the tests of our own SMTP server: a throwaway certificate, a client that trusts it,
and a delivery status notification to a question's reply address."""

import datetime
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailflow.emails import reply_address
from mailflow.models import ConfirmationRequest


def self_signed_certificate(folder: Path, host: str = "localhost") -> tuple[str, str]:
    """A certificate for `host`, valid for a day, and its key: (cert path, key path)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtpd.crt", folder / "smtpd.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def trusting(cert_path: str) -> ssl.SSLContext:
    """A client context that trusts the throwaway certificate alone."""
    context = ssl.create_default_context(cafile=cert_path)
    context.check_hostname = False
    return context


def delivery_failure(request: ConfirmationRequest) -> bytes:
    """A mail server's report that the question could not be delivered, sent back to the
    question's reply address (its Return-Path) with the original's headers."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.corp.example.com>\r\n"
        f"To: {reply_address(request)}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <smtp-bounce-1@mx.corp.example.com>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThe mailbox does not exist.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.corp.example.com\r\n\r\n"
        "Final-Recipient: rfc822; bob@corp.example.com\r\nAction: failed\r\n"
        "Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {request.message_id}\r\nSubject: {request.subject}\r\n"
        "--b--\r\n"
    ).encode()
