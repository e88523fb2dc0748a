"""The question email: text and HTML from one template each, rendered in the person's
language (gettext catalogues under locale/; the runbook's texts come translated in the
request)."""

from anymail.message import AnymailMessage
from django.conf import settings
from django.template.loader import get_template
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_lazy

from core.text import header_text
from mailflow.asked_about import about_context
from mailflow.models import ConfirmationRequest
from mailflow.parsing.answer import read_answer
from mailflow.parsing.reply_words import reply_words
from mailflow.tokens import bounce_token, page_token, reply_token
from runbooks.outcomes import SUSPICIOUS
from runbooks.translations import LANGUAGES

SUSPICIOUS_LABEL = gettext_lazy("This email looks suspicious to me")


def answer_link(request: ConfirmationRequest, key: str) -> str:
    return f"{settings.SITE_URL}/respond/{page_token(request.token_nonce)}/?choice={key}"


def reply_address(request: ConfirmationRequest) -> str:
    return f"reply+{reply_token(request.token_nonce)}@{settings.REPLY_DOMAIN}"


def bounce_address(request: ConfirmationRequest) -> str:
    return f"bounce+{bounce_token(request.token_nonce)}@{settings.REPLY_DOMAIN}"


# Backends that use the whole envelope_sender: our SMTP backend and the local mailbox as
# MAIL FROM (Return-Path), SparkPost as its return_path, and Amazon SES as the address it
# forwards the bounces it receives to. Mailgun uses only the domain, to choose the sending
# domain, which would send through REPLY_DOMAIN and lose the token; it and the others
# keep their own bounce address and report bounces through their tracking webhooks, so
# nothing is set for them (anymail would raise on the feature they lack).
BOUNCE_ADDRESS_BACKENDS = frozenset(
    {
        "mailflow.smtp_backend.EmailBackend",
        "mailflow.localmail.EmailBackend",
        "anymail.backends.amazon_ses.EmailBackend",
        "anymail.backends.sparkpost.EmailBackend",
    }
)


# Backends with no per-message click and open tracking: anymail refuses even turning it
# off there (an unsupported feature), and there is nothing to turn off.
NO_TRACKING_OPTIONS = frozenset({"anymail.backends.amazon_ses.EmailBackend"})


def uses_bounce_address() -> bool:
    return settings.EMAIL_BOUNCE_ADDRESS and settings.EMAIL_BACKEND in BOUNCE_ADDRESS_BACKENDS


def subject_tag(request: ConfirmationRequest) -> str:
    return f"[{request.incident.number}]"


def request_language(request: ConfirmationRequest) -> str:
    """The language the request's email and pages are written in: the one its texts were
    written in ("de-CH" too: German words, Swiss dates); English for one the app lacks."""
    code = (request.language or "en").replace("_", "-").lower()
    return code if code.split("-")[0] in LANGUAGES else "en"


def or_list(words: list[str]) -> str:
    """The words joined as "a or b", "a, b or c" in the active language."""
    if len(words) < 2:
        return "".join(words)
    return gettext("%(some)s or %(last)s") % {"some": ", ".join(words[:-1]), "last": words[-1]}


def deadline_text(request: ConfirmationRequest) -> str:
    """The deadline in the active language's own date format, with its time zone."""
    deadline = timezone.localtime(request.deadline_at)
    return f"{date_format(deadline, 'DATETIME_FORMAT')} ({date_format(deadline, 'T')})"


def vote_words(options: list[dict]) -> list[str]:
    """An approval's reply words: each option's label in lower case ("genehmigen"), which
    the reply reader takes as that vote, else its key."""
    words = []
    for option in options:
        label = str(option.get("label", "")).strip().lower()
        ok = label and read_answer(label, options).key == option["key"]
        words.append(label if ok else option["key"])
    return words


def _bodies(request: ConfirmationRequest, context: dict) -> tuple[str, str]:
    """The email's text and HTML in the active language. An approver's
    (mailflow.approvals) says what is to be approved, in which incident, about whom and
    who asks."""
    name = "request"
    if request.kind == ConfirmationRequest.Kind.APPROVAL:
        name = "approval"
        incident = request.incident
        affected = request.run.asked_person
        user = request.approver_user
        context |= {
            "first_name": context["first_name"] or (user.first_name if user else ""),
            "incident_description": incident.short_description,
            "runbook_name": request.run.definition.get("name", ""),
            "about": affected.full_name if affected else "",
            "language": request_language(request),
            # The vote words the reply reader takes, in the approver's language.
            "reply_keys": vote_words(request.options),
        }
    return (
        get_template(f"mailflow/email/{name}.txt").render(context),
        get_template(f"mailflow/email/{name}.html").render(context),
    )


def build_request_email(
    request: ConfirmationRequest, *, reminder: bool = False, message_id: str = ""
) -> AnymailMessage:
    """`message_id`: the Message-ID of an email sent again (ResentEmail), instead of the
    request's own; its links and reply address are the same."""
    with translation.override(request_language(request)):
        return _build(request, reminder=reminder, message_id=message_id)


def _build(request: ConfirmationRequest, *, reminder: bool, message_id: str) -> AnymailMessage:
    context = {
        "language_code": request_language(request).split("-")[0],
        "request": request,
        # A group mailbox is greeted without a name.
        "first_name": request.person.greeting_name if request.person else "",
        "incident_number": request.incident.number,
        "options": [
            {
                "label": option["label"],
                "key": option["key"],
                "url": answer_link(request, option["key"]),
            }
            for option in request.options
        ],
        "suspicious_url": answer_link(request, SUSPICIOUS),
        "suspicious_label": str(SUSPICIOUS_LABEL),
        "reply_choices": or_list(reply_words(request.options, request.language)),
        "deadline": timezone.localtime(request.deadline_at),
        "deadline_text": deadline_text(request),
        "reminder": reminder,
        # Whom the question is about when it goes to someone else (their manager...).
        **about_context(request),
    }
    # The subject carries titles and names outsiders wrote: one clean line, or a VT makes
    # a header line of its own and a CR or FF makes every send fail.
    subject = f"{subject_tag(request)} {header_text(request.subject)}"
    if reminder:
        reminder_word = gettext("Reminder:")
        subject = f"{subject_tag(request)} {reminder_word} {header_text(request.subject)}"
    headers = {
        # RFC 3834: we are automated; ask auto-responders (Exchange too) to stay quiet.
        "Auto-Submitted": "auto-generated",
        "X-Auto-Response-Suppress": "OOF, AutoReply",
    }
    if reminder:
        # Its own Message-ID; replies to it still name the original in References.
        headers["In-Reply-To"] = headers["References"] = request.message_id
    else:
        headers["Message-ID"] = message_id or request.message_id
    text, html = _bodies(request, context)
    message = email_to_recipient(
        request, subject=subject, text=text, html=html, headers=headers,
        tag="confirmation-request",
    )  # fmt: skip
    if request.bounce_token_hash and uses_bounce_address():
        # VERP: a bounce comes back to an address naming this request alone, even when it
        # quotes nothing of our email (mailflow.inbound.process).
        message.envelope_sender = bounce_address(request)
    # Tracking events carry this back to us.
    message.metadata = {"request_id": str(request.pk)}
    return message


def email_to_recipient(
    request: ConfirmationRequest,
    *,
    subject: str,
    text: str,
    html: str,
    headers: dict[str, str],
    tag: str,
) -> AnymailMessage:
    """An email of ours to the address the question went to (only ever that one), whose
    replies come back to the question's reply address. Providers must not rewrite our
    links (their click tracking would fetch them) or add pixels."""
    message = AnymailMessage(
        subject=subject[:300],
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[request.recipient_email],
        reply_to=[reply_address(request)],
        headers=headers,
    )
    message.attach_alternative(html, "text/html")
    message.tags = [tag]
    if settings.EMAIL_BACKEND not in NO_TRACKING_OPTIONS:
        message.track_clicks = False
        message.track_opens = False
    return message
