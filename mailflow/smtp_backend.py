"""Django's SMTP backend, with the message's envelope sender as MAIL FROM.

Django's own backend always gives from_email as MAIL FROM, so bounces go to the SOC's
From address. A question carries `envelope_sender` (bounce+TOKEN@REPLY_DOMAIN, see
mailflow.emails), and this backend hands it to the server instead, so a bounce comes back
to an address that names its question. Any other message is sent as Django sends it.

EMAIL_BACKEND=mailflow.smtp_backend.EmailBackend, with Django's EMAIL_HOST and friends."""

import smtplib

from django.conf import settings
from django.core.mail.backends import smtp
from django.core.mail.message import EmailMessage, sanitize_address


def envelope_sender(message: EmailMessage) -> str | None:
    """The message's envelope sender when one was set (AnymailMessage leaves an UNSET
    marker otherwise, Django's EmailMessage has no such attribute)."""
    value = getattr(message, "envelope_sender", None)
    return value if isinstance(value, str) and value else None


class EmailBackend(smtp.EmailBackend):
    def _send(self, email_message: EmailMessage) -> bool:
        sender = envelope_sender(email_message)
        if sender is None:
            return super()._send(email_message)
        if not email_message.recipients():
            return False
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        recipients = [sanitize_address(addr, encoding) for addr in email_message.recipients()]
        message = email_message.message()
        try:
            self.connection.sendmail(
                sanitize_address(sender, encoding), recipients, message.as_bytes(linesep="\r\n")
            )
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True
