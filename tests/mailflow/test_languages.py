# ruff: noqa: RUF001 (French and Italian write the typographic apostrophe)
"""Every word of the question email in the person's language: the wrapper from the gettext
catalogues, the question, options and subject from the runbook's translations."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from django.core import mail

from mailflow.due_requests import requests_process_due
from mailflow.emails import build_request_email
from mailflow.models import ConfirmationRequest
from mailflow.parsing import read_answer
from mailflow.parsing.reply_words import YES_NO, reply_words
from runbooks.translations import LANGUAGES, in_language
from tests.builders.answers import land, links, settle
from tests.builders.approvals import approval_runbook, approval_world, seats
from tests.builders.inbound import raw_reply
from tests.builders.languages import ENGLISH_WORDS
from tests.factories import PersonFactory, category, open_incident

# The same for German: none of it in the other five.
GERMAN_WORDS = ("hallo", "bitte", "sie", "ihre", "antworten", "sicherheitsvorfall", "oder")
# What each language's email says, whatever the runbook: its own words, not English ones.
OWN_WORDS = {
    "en": ("Hello Bob,", "This is about security incident", "yes or no"),
    "de": ("Hallo Bob,", "Es geht um den Sicherheitsvorfall", "ja oder nein"),
    "fr": ("Bonjour Bob,", "Il s’agit de l’incident de sécurité", "oui ou non"),
    "es": ("Hola, Bob:", "Se trata del incidente de seguridad", "sí o no"),
    "nl": ("Beste Bob,", "Het gaat om beveiligingsincident", "ja of nee"),
    "it": ("Buongiorno Bob,", "Si tratta dell’incidente di sicurezza", "sì o no"),
}
DEADLINE = {
    "en": "Dec. 9, 2026, 3:30 p.m. (UTC)",
    "de": "9. Dezember 2026 15:30 (UTC)",
    "fr": "9 décembre 2026 15:30 (UTC)",
    "es": "9 de diciembre de 2026 a las 15:30 (UTC)",
    "nl": "9 december 2026 15:30 (UTC)",
    "it": "Mercoledì 09 Dicembre 2026 15:30 (UTC)",  # Django's Italian format
}


def words_of(text: str, request: ConfirmationRequest) -> set[str]:
    """The email's words, without what is not ours to translate: links, addresses, the
    incident's number and description, the person's name."""
    text = unescape(re.sub(r"<[^>]+>", " ", text))
    text = re.sub(r"https?://\S+|\S+@\S+", " ", text)
    for data in (request.incident.number, request.incident.short_description, "Bob"):
        text = text.replace(data, " ")
    return {word.lower() for word in re.findall(r"[^\W\d_]+", text)}


@pytest.fixture
def asked_in(shipped, committed, bob, outbox):
    def ask(language: str, slug: str = "failed-login") -> ConfirmationRequest:
        bob.language = language
        bob.save()
        incident = committed(
            open_incident, category=category(slug), affected_user=bob, short_description="x"
        )
        return ConfirmationRequest.objects.get(incident=incident)

    return ask


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("slug", ["failed-login", "policy-violation"])
def test_the_email_is_in_the_persons_language_alone(asked_in, outbox, language, slug):
    request = asked_in(language, slug)

    (email,) = outbox
    html = email.alternatives[0][0]
    for part in (email.subject, email.body, html):
        words = words_of(part, request)
        if language != "en":
            assert not words & set(ENGLISH_WORDS), (language, words & set(ENGLISH_WORDS))
        if language != "de":
            assert not words & set(GERMAN_WORDS), (language, words & set(GERMAN_WORDS))
    for own in OWN_WORDS[language]:
        assert own in email.body and own in unescape(html), own
    assert f'<html lang="{language}">' in html


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_request_keeps_the_texts_as_the_person_read_them(asked_in, outbox, language):
    request = asked_in(language)

    shipped_question = request.run.definition["steps"][1]["params"]["question"]
    assert request.question == shipped_question[language]
    assert request.language == language
    assert request.question in outbox[0].body
    assert [o["label"] for o in request.options] == [
        o["label"][language] for o in request.run.definition["steps"][1]["params"]["options"]
    ]
    timeline = request.incident.timeline.get(kind="request.created")
    assert request.question in timeline.summary


def test_a_swiss_german_person_gets_german_words_and_a_regional_language_falls_back(
    asked_in, outbox
):
    request = asked_in("de-CH")

    assert "Hallo Bob," in outbox[0].body
    assert request.question.startswith("Stammen")
    assert request.language == "de-CH"


def test_a_language_the_app_lacks_gets_the_runbooks_default(asked_in, outbox):
    request = asked_in("pt")

    assert request.language == "en"
    assert "Hello Bob," in outbox[0].body
    assert request.question.startswith("Were the failed sign-in")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_deadline_is_written_the_persons_way(asked_in, language):
    request = asked_in(language)
    request.deadline_at = datetime(2026, 12, 9, 15, 30, tzinfo=UTC)

    body = build_request_email(request).body

    assert DEADLINE[language] in body


def test_a_reminder_says_so_in_the_persons_language(asked_in, outbox):
    request = asked_in("fr")

    reminder = build_request_email(request, reminder=True)

    assert reminder.subject.startswith(f"[{request.incident.number}] Rappel\u00a0: ")
    assert "Ceci est un rappel" in reminder.body


# --- the answer page --------------------------------------------------------------------

PAGE_WORDS = {
    "de": ("Bitte bestätigen Sie Ihre Antwort", "Diese E-Mail kommt mir verdächtig vor",
           "Antwort senden", "Bitte wählen Sie eine der Antworten.", "Vielen Dank"),
    "fr": ("Veuillez confirmer votre réponse", "Cet e-mail me semble suspect",
           "Envoyer la réponse", "Veuillez choisir l’une des réponses.", "Merci"),
    "es": ("Confirme su respuesta", "Este correo electrónico me parece sospechoso",
           "Enviar respuesta", "Elija una de las respuestas.", "Muchas gracias"),
    "nl": ("Bevestig uw antwoord", "Deze e-mail lijkt mij verdacht", "Antwoord versturen",
           "Kies een van de antwoorden.", "Hartelijk dank"),
    "it": ("Confermi la Sua risposta", "Questa e-mail mi sembra sospetta", "Invia risposta",
           "Scelga una delle risposte.", "Grazie"),
}  # fmt: skip


@pytest.mark.usefixtures("fresh_cache")
@pytest.mark.parametrize("language", PAGE_WORDS)
def test_the_answer_page_its_errors_and_thanks_are_in_the_persons_language(
    asked_in, outbox, browser, committed, language
):
    heading, suspicious, submit, error, thanks = PAGE_WORDS[language]
    request = asked_in(language, "policy-violation")
    settle(request)

    page = browser.get(land(browser, links(outbox[0])["yes"]))
    html = unescape(page.content.decode())
    assert f'<html lang="{language}">' in html and page["Content-Language"] == language
    for text in (heading, suspicious, submit, request.question, request.options[0]["label"]):
        assert text in html, text
    assert not words_of(html, request) & set(ENGLISH_WORDS)

    refused = browser.post("/respond/", {"choice": "maybe"})
    assert refused.status_code == 400 and error in unescape(refused.content.decode())

    posted = committed(browser.post, "/respond/", {"choice": "no"})
    done = unescape(browser.get(posted["Location"]).content.decode())
    assert thanks in done and request.options[1]["label"] in done
    assert request.answers.get().option_key == "no"
    assert not words_of(done, request) & set(ENGLISH_WORDS)


# --- the words the email suggests for a reply -------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_suggested_reply_word_is_read_back_as_its_option(shipped, language):
    for runbook in shipped.values():
        for step in runbook.steps.filter(action="ask_user"):
            options = [
                {"key": o["key"], "label": in_language(o["label"], language)}
                for o in step.params["options"]
            ]
            words = reply_words(options, language)
            for option, word in zip(options, words, strict=True):
                assert read_answer(word, options).key == option["key"], (language, word)
            assert words == list(YES_NO[language]), words


def test_options_without_a_yes_or_no_are_suggested_by_their_label():
    options = [{"key": "clicked", "label": "Geklickt"}, {"key": "ignored", "label": "Ignoriert"}]

    assert reply_words(options, "de") == ["Geklickt", "Ignoriert"]


def test_a_text_missing_in_the_persons_language_falls_back_to_the_runbooks(
    shipped, committed, bob, outbox
):
    runbook = shipped["Failed sign-ins"]
    runbook.language = "de"
    runbook.save()
    ask = runbook.steps.filter(action="ask_user").first()  # the affected person's
    ask.params["question"] = {"de": "Waren Sie das?", "fr": "Était-ce vous ?"}
    ask.params["options"][1]["label"] = {"de": "Nein", "en": "No"}
    ask.save()
    bob.language = "nl"
    bob.save()

    incident = committed(open_incident, category=category("failed-login"), affected_user=bob)

    request = ConfirmationRequest.objects.get(incident=incident)
    assert request.question == "Waren Sie das?"
    assert [o["label"] for o in request.options] == ["Ja, dat was ik", "Nein"]
    assert "Beste Bob," in outbox[0].body


# --- the pages that know no person -------------------------------------------------------


@pytest.mark.usefixtures("fresh_cache")
def test_an_unknown_link_says_so_in_every_language_english_first(browser, db):
    html = unescape(browser.get("/respond/", follow=True).content.decode())

    headings = [
        "This link is no longer valid",
        "Dieser Link ist nicht mehr gültig",
        "Ce lien n’est plus valide",
        "Este enlace ya no es válido",
        "Deze link is niet meer geldig",
        "Questo link non è più valido",
    ]
    assert [html.index(f">{heading}</h") for heading in headings] == sorted(
        html.index(f">{heading}</h") for heading in headings
    )
    assert f"<h1>{headings[0]}</h1>" in html


# --- the manager's question, the approval, the acknowledgement, what happens next ------

SIGN_IN = {
    "time": "2026-12-04T07:42:00Z",
    "source_ip": "203.0.113.7",
    "location": "Lisboa",
    "device": "Chrome",
    "attempts": 12,
}
# What each language calls the manager's part, the approver's and the acknowledgement's.
MANAGER_WORDS = {
    "en": ("As their manager, can you answer for them?", "When: 2026-12-04 07:42 (UTC)"),
    "de": ("Können Sie als Vorgesetzte", "Wann: 2026-12-04 07:42 (UTC)"),
    "fr": ("En tant que responsable hiérarchique", "Quand : 2026-12-04 07:42 (UTC)"),
    "es": ("Como responsable directo", "Cuándo: 2026-12-04 07:42 (UTC)"),
    "nl": ("Kunt u als leidinggevende", "Wanneer: 2026-12-04 07:42 (UTC)"),
    "it": ("In qualità di responsabile", "Quando: 2026-12-04 07:42 (UTC)"),
}
APPROVAL_WORDS = {
    "en": ("Approve", "approve / deny", "Please decide by"),
    "de": ("Genehmigen", "genehmigen / ablehnen", "Bitte entscheiden Sie bis"),
    "fr": ("Approuver", "approuver / refuser", "Merci de décider d’ici le"),
    "es": ("Aprobar", "aprobar / rechazar", "Decida antes del"),
    "nl": ("Goedkeuren", "goedkeuren / afwijzen", "Beslis alstublieft vóór"),
    "it": ("Approvare", "approvare / rifiutare", "Decida entro"),
}
APPROVAL_QUESTION = {
    "en": "Disable the account of {person_name}?",
    "de": "Das Konto von {person_name} sperren?",
    "fr": "Désactiver le compte de {person_name} ?",
    "es": "¿Desactivar la cuenta de {person_name}?",
    "nl": "Het account van {person_name} blokkeren?",
    "it": "Disattivare l’account di {person_name}?",
}
APPROVAL_BODY = {
    "en": "{first_name} said the sign-in was not them.",
    "de": "{first_name} sagt, die Anmeldung stamme nicht von ihm.",
    "fr": "{first_name} dit que cette connexion ne venait pas de lui.",
    "es": "{first_name} dice que el inicio de sesión no fue suyo.",
    "nl": "{first_name} zegt dat de aanmelding niet van hem was.",
    "it": "{first_name} dice che l’accesso non era suo.",
}
ACKNOWLEDGED = {
    "en": "What happens next:",
    "de": "Wie es weitergeht:",
    "fr": "La suite\u00a0:",
    "es": "Qué ocurre ahora:",
    "nl": "Wat er nu gebeurt:",
    "it": "Cosa succede ora:",
}


def english_in(message, request: ConfirmationRequest, *names: str) -> set[str]:
    """The English words of an email's subject, text and HTML (`names` left out)."""
    found = set()
    for part in (message.subject, message.body, message.alternatives[0][0]):
        for name in names:
            part = part.replace(name, " ")
        found |= words_of(part, request) & set(ENGLISH_WORDS)
    return found


@pytest.mark.usefixtures("fresh_cache")
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_managers_email_is_in_her_language_with_the_about_block_and_details(
    shipped, committed, bob, outbox, language
):
    carol = PersonFactory(email="carol@corp.example.com", first_name="Carol", language=language)
    bob.manager = carol
    bob.save()
    incident = committed(
        open_incident, category=category("failed-login"), affected_user=bob,
        short_description="x", details=SIGN_IN,
    )  # fmt: skip
    bobs = ConfirmationRequest.objects.get(incident=incident)
    committed(requests_process_due, bobs.deadline_at + timedelta(minutes=1))

    hers = ConfirmationRequest.objects.get(incident=incident, step_position=2)
    (email,) = [m for m in outbox if m.to == [carol.email]]
    assert hers.language == language
    assert "{" not in email.body and "Lisboa" in email.body
    for own in MANAGER_WORDS[language]:
        assert own in email.body, own
    if language != "en":
        assert not english_in(email, hers, "Carol", "Builder", "Chrome", "Lisboa"), language


@pytest.mark.usefixtures("fresh_cache")
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_approval_email_and_page_are_in_the_approvers_language(
    committed, bob, outbox, browser, language
):
    maya = approval_world(bob)["maya"]
    maya.language = language
    maya.save()
    runbook = approval_runbook(["manager"], question=APPROVAL_QUESTION, body=APPROVAL_BODY)
    runbook.name = "R"  # the runbook's name is the team's, not translated
    runbook.save()
    incident = committed(open_incident, affected_user=bob, short_description="x")
    (seat,) = seats(incident)

    (email,) = [m for m in outbox if m.to == [maya.email]]
    label, words, deadline = APPROVAL_WORDS[language]
    assert seat.language == language and seat.options[0]["label"] == label
    assert seat.question == APPROVAL_QUESTION[language].format(person_name="Bob Builder")
    assert words in email.body and deadline in email.body
    assert f'<html lang="{language}">' in email.alternatives[0][0]
    settle(seat)
    page = unescape(browser.get(land(browser, links(email)["approve"])).content.decode())
    assert label in page and seat.question in page
    if language != "en":
        assert not english_in(email, seat, "Maya", "Builder", "“R”", "«R»", "‘R’"), language
        assert not words_of(page, seat) & set(ENGLISH_WORDS), language


@pytest.mark.usefixtures("fresh_cache", "webhook_secret")
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_acknowledgement_of_a_reply_is_in_the_persons_language(asked_in, deliver, language):
    request = asked_in(language)
    no = YES_NO[language][1]

    inbound = deliver(raw_reply(request, no))

    assert inbound.status == "answered"
    ack = mail.outbox[-1]
    next_text = in_language(request.run.definition["steps"][1]["params"]["options"][1]["next"],
                            language)  # fmt: skip
    assert f"{ACKNOWLEDGED[language]}\n{next_text}" in ack.body
    assert request.options[1]["label"] in ack.body
    if language != "en":
        assert not english_in(ack, request), language


@pytest.mark.usefixtures("fresh_cache")
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_thanks_page_says_what_happens_next_in_the_persons_language(
    asked_in, outbox, browser, committed, language
):
    request = asked_in(language, "policy-violation")
    settle(request)
    browser.get(land(browser, links(outbox[0])["no"]))

    posted = committed(browser.post, "/respond/", {"choice": "no"})

    done = unescape(browser.get(posted["Location"]).content.decode())
    step = request.run.definition["steps"][request.step_position]
    assert in_language(step["params"]["options"][1]["next"], language) in done
    assert ACKNOWLEDGED[language].rstrip(":\u00a0") in done
    if language != "en":
        assert not words_of(done, request) & set(ENGLISH_WORDS), language
