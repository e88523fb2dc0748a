"""Whom an ask_approval step asks: its approver list (runbooks.approvers) read against the
directory and the staff accounts when the step runs, so a group's members are those of
that moment."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group

from incidents.models import Person
from runbooks.approvers import MANAGER


@dataclass(frozen=True)
class Approver:
    """One approver: a directory person, a user account, or both (the same address)."""

    name: str
    email: str
    person: Person | None = None
    user: AbstractBaseUser | None = None

    @property
    def language(self) -> str:
        return (self.person.language if self.person else "") or "en"


def _user_with_email(email: str) -> AbstractBaseUser | None:
    # Two accounts with one address: neither is taken as the approver's own.
    users = list(
        get_user_model().objects.filter(email__iexact=email, is_active=True).order_by("pk")[:2]
    )
    return users[0] if len(users) == 1 else None


def _user_name(user: AbstractBaseUser) -> str:
    return user.get_full_name() or user.get_username()


def _from_person(person: Person) -> Approver:
    return Approver(person.full_name, person.email, person, _user_with_email(person.email))


def _resolve_one(entry: str, asked: Person | None) -> tuple[list[Approver], str]:
    """The approvers one entry names, or why it names nobody."""
    if entry == MANAGER:
        manager = asked.manager if asked else None
        if manager is None or not manager.email:
            who = asked.full_name if asked else "the affected user"
            return [], f"{who} has no manager with an email address in the directory"
        return [_from_person(manager)], ""
    if entry.startswith("person:"):
        email = entry.removeprefix("person:")
        person = Person.objects.filter(email__iexact=email).first()
        if person:
            return [_from_person(person)], ""
        user = _user_with_email(email)
        if user is None or not user.is_staff:
            return [], f"nobody in the directory or on the staff has the address {email}"
        return [Approver(_user_name(user), user.email, None, user)], ""
    name = entry.removeprefix("group:")
    group = Group.objects.filter(name=name).first()
    if group is None:
        return [], f"there is no group {name!r}"
    members = group.user_set.filter(is_active=True).exclude(email="").order_by("pk")
    people = {
        p.email.lower(): p
        for p in Person.objects.filter(email__in=[u.email.lower() for u in members])
    }
    found = [Approver(_user_name(u), u.email, people.get(u.email.lower()), u) for u in members]
    return found, "" if found else f"the group {name!r} has no active member with an email"


def approvers_resolve(entries: list[str], asked: Person | None) -> tuple[list[Approver], list[str]]:
    """The approvers the entries name, each address once, in the entries' order; and
    what could not be found (said on the timeline)."""
    approvers: list[Approver] = []
    missing: list[str] = []
    seen: set[str] = set()
    for entry in entries:
        found, why = _resolve_one(entry, asked)
        if why:
            missing.append(why)
        for approver in found:
            if approver.email.lower() not in seen:
                seen.add(approver.email.lower())
                approvers.append(approver)
    return approvers, missing
