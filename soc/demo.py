"""Demo data: the shipped runbooks, a small company directory, two analyst logins and a
few incidents at different stages (the failed-login and download incidents start their
runbooks once the worker picks them up).

Safe to load again: what exists is left alone (passwords are reset so the printed ones
always work). A shipped runbook is installed only when absent: one an author edited keeps
the author's version (`manage.py runbooks upgrade` shows what the shipped one changes).
Every incident change goes through the services."""

import secrets
import struct
import zlib
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from incidents import groups
from incidents.models import (
    Category,
    ConfigurationItem,
    Evidence,
    Person,
    ResponseTask,
    SecurityIncident,
)
from incidents.services import (
    evidence_add,
    incident_add_note,
    incident_assign,
    incident_open,
    incident_transition,
    task_create,
    task_transition,
)
from mailflow.mailbox_views import PERMISSION
from runbooks.files import Shipped, import_shipped_runbooks, shipped_runbooks

# email, first, last, department, title, manager email, language
PEOPLE = [
    ("grace.hopper@example.com", "Grace", "Hopper", "Finance", "Head of Finance", "", "en"),
    (
        "bob.builder@example.com",
        "Bob",
        "Builder",
        "Finance",
        "Accountant",
        "grace.hopper@example.com",
        "en",
    ),
    (
        "hanna.schmidt@example.com",
        "Hanna",
        "Schmidt",
        "Finance",
        "Controller",
        "grace.hopper@example.com",
        "de",
    ),
    ("marie.curie@example.com", "Marie", "Curie", "Research", "Head of Research", "", "fr"),
    (
        "pierre.martin@example.com",
        "Pierre",
        "Martin",
        "Research",
        "Research Engineer",
        "marie.curie@example.com",
        "fr",
    ),
    ("alan.turing@example.com", "Alan", "Turing", "IT", "Head of IT", "", "en"),
    (
        "ada.lovelace@example.com",
        "Ada",
        "Lovelace",
        "IT",
        "Developer",
        "alan.turing@example.com",
        "en",
    ),
    ("sofia.garcia@example.com", "Sofía", "García", "Sales", "Account Manager", "", "es"),
]

# A shared mailbox runbooks can ask (ask_user with target: group): email, name, department.
GROUP_MAILBOXES = [("it.servicedesk@example.com", "IT Service Desk", "IT")]

# name, kind, hostname, ip, owner email
CIS = [
    (
        "LAPTOP-BOB",
        "laptop",
        "laptop-bob.corp.example.com",
        "10.20.1.15",
        "bob.builder@example.com",
    ),
    (
        "LAPTOP-HANNA",
        "laptop",
        "laptop-hanna.corp.example.com",
        "10.20.1.22",
        "hanna.schmidt@example.com",
    ),
    (
        "WS-PIERRE",
        "desktop",
        "ws-pierre.corp.example.com",
        "10.30.4.7",
        "pierre.martin@example.com",
    ),
    ("SRV-FILE01", "server", "file01.corp.example.com", "10.10.0.5", "alan.turing@example.com"),
    ("APP-PAYROLL", "application", "payroll.corp.example.com", None, "grace.hopper@example.com"),
]


@dataclass
class DemoReport:
    logins: dict[str, str] = field(default_factory=dict)
    runbooks: list[str] = field(default_factory=list)
    # Shipped runbooks whose file changed, or which an author edited: kept as they are.
    runbooks_differing: list[str] = field(default_factory=list)
    incidents_created: list[str] = field(default_factory=list)


def load_demo() -> DemoReport:
    report = DemoReport()
    report.runbooks = [runbook.name for runbook in import_shipped_runbooks()]
    report.runbooks_differing = [
        shipped.name for shipped in shipped_runbooks() if shipped.status == Shipped.DIFFERS
    ]
    with transaction.atomic():
        _directory()
        _analysts_read_the_local_mailbox()
        analyst = _login(report, "analyst", "Ana", "Lyst", groups.SOC_ANALYST)
        _login(report, "author", "Rune", "Book", groups.RUNBOOK_AUTHOR)
    for reference, build in _INCIDENTS.items():
        if not SecurityIncident.objects.filter(external_reference=reference).exists():
            with transaction.atomic():
                report.incidents_created.append(build(reference, analyst).number)
    return report


def _directory() -> None:
    for email, first, last, department, title, _manager, language in PEOPLE:
        Person.objects.get_or_create(
            email=email,
            defaults={
                "first_name": first,
                "last_name": last,
                "department": department,
                "title": title,
                "language": language,
            },
        )
    for email, name, department in GROUP_MAILBOXES:
        Person.objects.get_or_create(
            email=email,
            defaults={"first_name": name, "department": department, "kind": Person.Kind.GROUP},
        )
    for email, *_rest, manager, _language in PEOPLE:
        if manager:
            Person.objects.filter(email=email, manager__isnull=True).update(
                manager=Person.objects.get(email=manager)
            )
    for name, kind, hostname, ip, owner in CIS:
        ConfigurationItem.objects.get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "hostname": hostname,
                "ip_address": ip,
                "owner": Person.objects.get(email=owner),
            },
        )


def _analysts_read_the_local_mailbox() -> None:
    # Only the demo grants it: the mailbox shows live answer links, and in production it
    # is refused anyway (soc.E005).
    app_label, codename = PERMISSION.split(".")
    Group.objects.get(name=groups.SOC_ANALYST).permissions.add(
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
    )


def _login(report: DemoReport, username: str, first: str, last: str, group: str):
    user, _ = get_user_model().objects.get_or_create(
        username=username,
        defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"},
    )
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=group))
    report.logins[username] = password
    return user


def _person(email: str) -> Person:
    return Person.objects.get(email=email)


def _failed_login(reference: str, analyst) -> SecurityIncident:
    # The shipped "Failed sign-ins" runbook asks Bob.
    incident, _ = incident_open(
        actor=Actor.system("Splunk"),
        short_description="12 failed sign-ins for bob.builder in 5 minutes",
        description="Source 203.0.113.7 (unknown VPN exit), Azure AD sign-in logs.",
        category=Category.objects.get(slug="failed-login"),
        priority=SecurityIncident.Priority.MODERATE,
        affected_user=_person("bob.builder@example.com"),
        affected_ci=ConfigurationItem.objects.get(name="LAPTOP-BOB"),
        external_reference=reference,
        details={
            "time": _hours_ago(1),
            "source_ip": "203.0.113.7",
            "location": "Lisbon, Portugal",
            "device": "Firefox on Linux",
            "attempts": 12,
        },
    )
    return incident


def _download(reference: str, analyst) -> SecurityIncident:
    # The shipped "Suspicious file download" runbook takes it from here.
    incident, _ = incident_open(
        actor=Actor.system("Proxy"),
        short_description="invoice_2026.zip downloaded from an uncategorised file-sharing site",
        category=Category.objects.get(slug="policy-violation"),
        priority=SecurityIncident.Priority.HIGH,
        affected_user=_person("hanna.schmidt@example.com"),
        affected_ci=ConfigurationItem.objects.get(name="LAPTOP-HANNA"),
        external_reference=reference,
        details={
            "file_name": "invoice_2026.zip",
            "site": "https://files.example.net/d/invoice_2026.zip",
            "time": _hours_ago(2),
        },
    )
    return incident


def _phishing(reference: str, analyst) -> SecurityIncident:
    me = Actor.analyst(analyst)
    incident, _ = incident_open(
        actor=Actor.system("Phishing mailbox"),
        short_description="Reported phishing: 'Your parcel is waiting' with credential form",
        category=Category.objects.get(slug="phishing"),
        priority=SecurityIncident.Priority.HIGH,
        affected_user=_person("pierre.martin@example.com"),
        affected_ci=ConfigurationItem.objects.get(name="WS-PIERRE"),
        external_reference=reference,
        details={
            "sender": "Parcel Service <noreply@parcel-tracking.example.net>",
            "subject": "Your parcel is waiting",
            "received_at": _hours_ago(5),
        },
    )
    incident_assign(actor=me, incident=incident, analyst=analyst)
    incident_transition(actor=me, incident=incident, to_state="analysis")
    evidence_add(
        actor=me,
        incident=incident,
        content=_png(160, 90, (200, 60, 60)),
        filename="reported-message.png",
        source=Evidence.Source.ANALYST_UPLOAD,
        provenance={"uploaded_by": analyst.get_username(), "channel": "demo"},
    )
    evidence_add(
        actor=me,
        incident=incident,
        content=b"Received: from mail.parcel-tracking.example.net (198.51.100.23)\n"
        b"From: Parcel Service <noreply@parcel-tracking.example.net>\n"
        b"Subject: Your parcel is waiting\n",
        filename="headers.txt",
        source=Evidence.Source.ANALYST_UPLOAD,
        provenance={"uploaded_by": analyst.get_username(), "channel": "demo"},
    )
    block = task_create(actor=me, incident=incident, title="Block the sender domain")
    task_transition(actor=me, task=block, to_state=ResponseTask.State.COMPLETED)
    search = task_create(actor=me, incident=incident, title="Search all mailboxes for the message")
    task_transition(actor=me, task=search, to_state=ResponseTask.State.IN_PROGRESS)
    incident_add_note(
        actor=me, incident=incident, text="Sender domain registered 2 days ago. 14 recipients."
    )
    incident_transition(actor=me, incident=incident, to_state="contain")
    return incident


def _malware(reference: str, analyst) -> SecurityIncident:
    me = Actor.analyst(analyst)
    incident, _ = incident_open(
        actor=Actor.system("EDR"),
        short_description="EICAR test file detected on file server",
        category=Category.objects.get(slug="malware"),
        priority=SecurityIncident.Priority.LOW,
        affected_ci=ConfigurationItem.objects.get(name="SRV-FILE01"),
        external_reference=reference,
    )
    incident_transition(actor=me, incident=incident, to_state="analysis")
    incident_transition(
        actor=me,
        incident=incident,
        to_state="closed",
        reason="False positive: the EICAR file was part of an AV test by IT.",
    )
    return incident


def _hours_ago(hours: int) -> str:
    return (timezone.now() - timedelta(hours=hours)).replace(microsecond=0).isoformat()


_INCIDENTS = {
    "DEMO-1": _failed_login,
    "DEMO-2": _download,
    "DEMO-3": _phishing,
    "DEMO-4": _malware,
}


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, so the demo shows an image preview without shipping a file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
