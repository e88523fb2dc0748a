"""Directory import: people from an HR export and configuration items from a CMDB export.

An import is all-or-nothing. Every row is checked first and every problem is reported with
its line number, so whoever fixes the file sees the whole list at once rather than one
problem per attempt; only a clean file is written, in a single transaction.
"""

import csv
import io
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_ipv46_address
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address

from core.errors import DomainError
from core.text import has_nul, storable
from incidents.models import ConfigurationItem, Person

# Generous for any real directory, small enough that a request handles it comfortably.
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 50_000

# A BCP 47-ish language tag: "en", "de", "pt-BR", "zh-Hant-TW", "es-419".
_LANGUAGE_CODE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")

_PERSON_REQUIRED = ("email", "first_name")
_PERSON_OPTIONAL = ("last_name", "department", "title", "manager_email", "language", "kind")
_PERSON_IDENTIFIERS = ("email", "manager_email", "language", "kind")
_CI_REQUIRED = ("name",)
_CI_OPTIONAL = ("kind", "hostname", "ip_address", "owner_email")
_CI_IDENTIFIERS = ("name", "kind", "hostname", "ip_address", "owner_email")

# Inserts go in batches so neither SQLite's parameter limit nor one huge statement gets in
# the way of a 50,000-row file.
_BATCH_SIZE = 500


@dataclass
class RowError:
    line: int  # 0 for a problem with the file as a whole
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


class DirectoryImportError(DomainError):
    """The file was refused and nothing was imported; `errors` lists every problem."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


@dataclass
class _Table:
    columns: set[str]  # the columns present in the header
    rows: list[tuple[int, dict[str, str]]]  # (line number, column -> trimmed value)
    errors: list[RowError]


def _shown(value: str) -> str:
    # repr() quotes the value and escapes control characters, so a hostile cell cannot
    # garble a terminal; the cut keeps one silly cell from flooding the error list.
    return repr(value if len(value) <= 80 else value[:77] + "...")


def _read_table(
    data: bytes,
    *,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    identifiers: tuple[str, ...],
) -> _Table:
    """Decode and split the file. Raises for problems that make the rows meaningless.

    NUL, which PostgreSQL refuses and SQLite stores, is removed from free-text cells and
    refused in `identifiers` (addresses, names, codes), where removing it would make
    another value."""
    if len(data) > MAX_IMPORT_BYTES:
        raise DirectoryImportError(
            [RowError(0, f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB")]
        )
    try:
        # utf-8-sig drops the byte-order mark Excel puts in front of "CSV UTF-8" files.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DirectoryImportError(
            [RowError(line, "the file is not UTF-8 text; save or export it as CSV UTF-8")]
        ) from None

    # newline="" lets the csv module see the real line endings: it counts lines correctly
    # and keeps line breaks inside quoted cells.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    data_rows = 0
    rows: list[tuple[int, dict[str, str]]] = []
    errors: list[RowError] = []
    try:
        while True:
            # A quoted cell may span lines; report the line the record starts on.
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, including ",,," from spreadsheets
            if header is None:
                header = [cell.strip().lower() for cell in cells]
                _check_header(header, line, required=required, optional=optional)
                continue
            data_rows += 1
            if data_rows > MAX_IMPORT_ROWS:
                raise DirectoryImportError(
                    [RowError(0, f"the file has more than {MAX_IMPORT_ROWS:,} rows; split it")]
                )
            if len(cells) != len(header):
                errors.append(
                    RowError(line, f"has {len(cells)} values but the header has {len(header)}")
                )
                continue
            row = dict(zip(header, cells, strict=True))
            refused = [column for column in identifiers if has_nul(row.get(column, ""))]
            if refused:
                errors.extend(
                    RowError(line, f"{column} contains a NUL character") for column in refused
                )
                continue
            rows.append((line, {column: storable(cell).strip() for column, cell in row.items()}))
    except csv.Error as error:
        raise DirectoryImportError(
            [RowError(reader.line_num, f"the file is not valid CSV: {error}")]
        ) from None
    if header is None:
        raise DirectoryImportError([RowError(0, "the file is empty")])
    return _Table(columns=set(header), rows=rows, errors=errors)


def _check_header(
    header: list[str], line: int, *, required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    known = set(required) | set(optional)
    problems: list[str] = []
    if "" in header:
        problems.append("a column has no name; remove empty columns from the header")
    unknown = [column for column in header if column and column not in known]
    if unknown:
        problems.append(
            f"unknown column(s) {', '.join(map(_shown, unknown))}; "
            f"the columns are {', '.join(required + optional)}"
        )
    duplicated = sorted(column for column, n in Counter(header).items() if n > 1)
    if duplicated:
        problems.append(f"column(s) {', '.join(map(_shown, duplicated))} appear more than once")
    missing = [column for column in required if column not in header]
    if missing:
        problems.append(f"missing required column(s) {', '.join(missing)}")
    if problems:
        raise DirectoryImportError([RowError(line, problem) for problem in problems])


def _too_long(model: type[models.Model], field_name: str, column: str, value: str) -> str | None:
    # Checked here because SQLite would store an over-long value silently and PostgreSQL
    # would fail the whole transaction with a message nobody can act on.
    limit = model._meta.get_field(field_name).max_length
    if limit and len(value) > limit:
        return f"{column} is longer than {limit} characters"
    return None


def _email_problem(column: str, email: str) -> str | None:
    try:
        validate_email(email)
    except ValidationError:
        return f"{column} {_shown(email)} is not a valid address"
    return None


def _changed(obj: models.Model, values: dict[str, object]) -> bool:
    """Set `values` on `obj`; True if any differed. Unchanged rows are left untouched."""
    changed = False
    for attname, value in values.items():
        if getattr(obj, attname) != value:
            setattr(obj, attname, value)
            changed = True
    return changed


def _update_fields(model: type[models.Model], columns: set[str], *, key: str) -> list[str]:
    """The fields an update writes: those whose column the file has, and updated_at."""
    fields = [f.name for f in model._meta.concrete_fields if f.name in columns - {key}]
    # The owner and manager columns carry an email but set the foreign key.
    fields += [name for name in ("owner", "manager") if f"{name}_email" in columns]
    return [*fields, "updated_at"]


def _save_changed(model: type[models.Model], objs: list, field_names: list[str]) -> None:
    """What bulk_update does, in one parameterised UPDATE run for every row.

    bulk_update builds a CASE expression per row and field, which takes minutes at 50,000
    rows; this takes seconds. Values go through the fields' own database preparation.
    """
    if not objs:
        return
    fields = [model._meta.get_field(name) for name in field_names]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {assignments} "  # noqa: S608 - names from the model
        f"WHERE {quote(model._meta.pk.column)} = %s"
    )
    rows = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields] + [obj.pk]
        for obj in objs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _write(apply: Callable[[], None]) -> None:
    try:
        with transaction.atomic():
            apply()
    except IntegrityError:
        # Someone changed the same rows between our checks and our writes.
        raise DirectoryImportError(
            [RowError(0, "the directory changed while importing; nothing was imported, try again")]
        ) from None


# --- People -----------------------------------------------------------------------------


@dataclass
class _PersonRow:
    line: int
    values: dict[str, object]  # attname -> value, only for columns present in the header
    manager_email: str  # "" for no manager


def directory_import_people(*, data: bytes) -> ImportReport:
    """Create or update people by email from an HR export (CSV, UTF-8).

    A column missing from the header leaves that field alone on existing people; an empty
    cell in a present column clears it (an empty language means "en").
    """
    table = _read_table(
        data, required=_PERSON_REQUIRED, optional=_PERSON_OPTIONAL, identifiers=_PERSON_IDENTIFIERS
    )
    errors = table.errors
    line_of: dict[str, int] = {}  # every email in the file, even on rows with other problems
    people: dict[str, _PersonRow] = {}  # the rows without problems
    for line, row in table.rows:
        problems: list[str] = []
        email = row["email"].lower()
        if not email:
            problems.append("email is required")
        elif problem := _email_problem("email", email) or _too_long(
            Person, "email", "email", email
        ):
            problems.append(problem)
        elif email in line_of:
            problems.append(f"email {_shown(email)} also appears on line {line_of[email]}")
        else:
            line_of[email] = line

        values: dict[str, object] = {}
        for column in ("first_name", "last_name", "department", "title"):
            if column in table.columns:
                values[column] = row[column]
                if problem := _too_long(Person, column, column, row[column]):
                    problems.append(problem)
        if not row["first_name"]:
            problems.append("first_name is required")
        if "language" in table.columns:
            language = values["language"] = row["language"] or "en"
            if not _LANGUAGE_CODE.fullmatch(language):
                problems.append(
                    f"language {_shown(language)} is not a language code such as en, de or pt-BR"
                )
            elif problem := _too_long(Person, "language", "language", language):
                problems.append(problem)
        if "kind" in table.columns:
            kind = values["kind"] = row["kind"].lower() or Person.Kind.PERSON
            if kind not in Person.Kind.values:
                problems.append(f"kind {_shown(kind)} is not one of: person, group")

        manager_email = row.get("manager_email", "").lower()
        if manager_email:
            if problem := _email_problem("manager_email", manager_email):
                problems.append(problem)
            elif manager_email == email:
                problems.append("a person cannot be their own manager")

        errors.extend(RowError(line, problem) for problem in problems)
        if not problems:
            people[email] = _PersonRow(line, values, manager_email)

    # Second pass: a manager may come later in the file, or already be in the directory.
    managers = [p.manager_email for p in people.values() if p.manager_email]
    wanted = list(dict.fromkeys([*people, *managers]))
    existing = Person.objects.in_bulk(wanted, field_name="email")
    for person in people.values():
        manager_email = person.manager_email
        if manager_email and manager_email not in line_of and manager_email not in existing:
            errors.append(
                RowError(
                    person.line,
                    f"manager_email {_shown(manager_email)} is neither in this file "
                    "nor in the directory",
                )
            )
    if errors:
        raise DirectoryImportError(sorted(errors, key=lambda error: error.line))

    report = ImportReport()
    has_manager_column = "manager_email" in table.columns

    def apply() -> None:
        now = timezone.now()
        new = [
            Person(email=email, created_at=now, updated_at=now, **row.values)
            for email, row in people.items()
            if email not in existing
        ]
        # Managers are set once everyone exists, as a manager may be created by this file.
        Person.objects.bulk_create(new, batch_size=_BATCH_SIZE)
        everyone = Person.objects.in_bulk(wanted, field_name="email")
        changed: list[Person] = []
        for email, row in people.items():
            values = row.values
            if has_manager_column:
                manager = everyone.get(row.manager_email)
                values = {**values, "manager_id": manager.pk if manager else None}
            person = everyone[email]
            if _changed(person, values):
                person.updated_at = now
                changed.append(person)
                if email in existing:
                    report.updated += 1
        _save_changed(Person, changed, _update_fields(Person, table.columns, key="email"))
        report.created = len(new)

    _write(apply)
    return report


# --- Configuration items ----------------------------------------------------------------


def _kind(value: str) -> str | None:
    """The Kind value for a value or label in any case; "" means other."""
    if not value:
        return ConfigurationItem.Kind.OTHER
    wanted = value.casefold()
    for kind, label in ConfigurationItem.Kind.choices:
        if wanted in (kind.casefold(), str(label).casefold()):
            return kind
    return None


def directory_import_cis(*, data: bytes) -> ImportReport:
    """Create or update configuration items by name from a CMDB export (CSV, UTF-8).

    A column missing from the header leaves that field alone on existing items. Owners
    must already be in the directory: import people first.
    """
    table = _read_table(
        data, required=_CI_REQUIRED, optional=_CI_OPTIONAL, identifiers=_CI_IDENTIFIERS
    )
    errors = table.errors
    owner_emails = {row.get("owner_email", "").lower() for _, row in table.rows} - {""}
    owners = Person.objects.in_bulk(list(owner_emails), field_name="email")
    line_of: dict[str, int] = {}  # every name in the file, even on rows with other problems
    items: dict[str, dict[str, object]] = {}  # the rows without problems
    for line, row in table.rows:
        problems: list[str] = []
        name = row["name"]
        if not name:
            problems.append("name is required")
        elif problem := _too_long(ConfigurationItem, "name", "name", name):
            problems.append(problem)
        elif name in line_of:
            problems.append(f"name {_shown(name)} also appears on line {line_of[name]}")
        else:
            line_of[name] = line

        values: dict[str, object] = {}
        if "kind" in table.columns:
            values["kind"] = _kind(row["kind"])
            if values["kind"] is None:
                choices = ", ".join(ConfigurationItem.Kind.values)
                problems.append(f"kind {_shown(row['kind'])} is not one of {choices}")
        if "hostname" in table.columns:
            values["hostname"] = row["hostname"]
            if problem := _too_long(ConfigurationItem, "hostname", "hostname", row["hostname"]):
                problems.append(problem)
        if "ip_address" in table.columns:
            address = row["ip_address"]
            values["ip_address"] = None
            if address:
                try:
                    validate_ipv46_address(address)
                except ValidationError:
                    problems.append(f"ip_address {_shown(address)} is not an IPv4 or IPv6 address")
                else:
                    # Stored the way the model field stores it, so a re-import of the same
                    # file is recognised as unchanged.
                    is_v6 = ":" in address
                    values["ip_address"] = clean_ipv6_address(address) if is_v6 else address
        if "owner_email" in table.columns:
            owner_email = row["owner_email"].lower()
            owner = owners.get(owner_email)
            values["owner_id"] = owner.pk if owner else None
            if owner_email and owner is None:
                problems.append(f"owner_email {_shown(owner_email)} is not in the directory")

        errors.extend(RowError(line, problem) for problem in problems)
        if not problems:
            items[name] = values
    if errors:
        raise DirectoryImportError(sorted(errors, key=lambda error: error.line))

    report = ImportReport()

    def apply() -> None:
        now = timezone.now()
        existing = ConfigurationItem.objects.in_bulk(list(items), field_name="name")
        new: list[ConfigurationItem] = []
        changed: list[ConfigurationItem] = []
        for name, values in items.items():
            item = existing.get(name)
            if item is None:
                new.append(ConfigurationItem(name=name, created_at=now, updated_at=now, **values))
            elif _changed(item, values):
                item.updated_at = now
                changed.append(item)
        ConfigurationItem.objects.bulk_create(new, batch_size=_BATCH_SIZE)
        _save_changed(
            ConfigurationItem, changed, _update_fields(ConfigurationItem, table.columns, key="name")
        )
        report.created, report.updated = len(new), len(changed)

    _write(apply)
    return report


# --- Single records and batches from the REST API ---------------------------------------
#
# HR and CMDB sync jobs send JSON rather than CSV; the API's serializers have checked every
# field, so these only write. Directory records are reference data: no timeline entry. The
# `actor` is taken like every service's, for the day directory changes get an audit log.

PERSON_FIELDS = ("first_name", "last_name", "department", "title", "language", "manager", "kind")
CI_FIELDS = ("kind", "hostname", "ip_address", "owner")
MAX_UPSERT_ROWS = 1000


@dataclass
class UpsertReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _create(model: type[models.Model], what: str, **values: object) -> models.Model:
    now = timezone.now()
    try:
        with transaction.atomic():
            return model.objects.create(created_at=now, updated_at=now, **values)
    except IntegrityError:
        # Another request created the same key between the caller's check and ours.
        raise DomainError(f"{what} already exists in the directory.") from None


def _update(obj: models.Model, allowed: tuple[str, ...], changes: dict[str, object]):
    unknown = set(changes) - set(allowed)
    if unknown:
        raise DomainError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    if _changed(obj, changes):
        obj.updated_at = timezone.now()
        obj.save(update_fields=[*changes, "updated_at"])
    return obj


def person_create(*, actor, email: str, first_name: str, **values: object) -> Person:
    email = email.strip().lower()
    return _create(Person, f"{email!r}", email=email, first_name=first_name, **values)


def person_update(*, actor, person: Person, **changes: object) -> Person:
    if changes.get("manager") is not None and changes["manager"].pk == person.pk:
        raise DomainError("A person cannot be their own manager.")
    return _update(person, PERSON_FIELDS, changes)


def ci_create(*, actor, name: str, **values: object) -> ConfigurationItem:
    return _create(ConfigurationItem, f"{name!r}", name=name, **values)


def ci_update(*, actor, ci: ConfigurationItem, **changes: object) -> ConfigurationItem:
    return _update(ci, CI_FIELDS, changes)


def _upsert(
    model: type[models.Model], key: str, rows: list[dict[str, object]], allowed: tuple[str, ...]
) -> tuple[UpsertReport, dict[str, models.Model], set[str]]:
    """Create or update rows by `key` in one transaction; a field a row leaves out stays as
    it is on an existing record. Returns the report, every record by key, and the keys of
    the existing records left unchanged."""
    if len(rows) > MAX_UPSERT_ROWS:
        raise DomainError(f"Send at most {MAX_UPSERT_ROWS} records per request.")
    keys = [row[key] for row in rows]
    if len(set(keys)) != len(keys):
        raise DomainError(f"Each {key} may appear only once per request.")
    report = UpsertReport()
    now = timezone.now()
    with transaction.atomic():
        existing = model.objects.select_for_update().in_bulk(keys, field_name=key)
        new, changed, fields, unchanged = [], [], set(), set()
        for row in rows:
            values = {name: value for name, value in row.items() if name != key}
            unknown = set(values) - set(allowed)
            if unknown:
                raise DomainError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
            obj = existing.get(row[key])
            if obj is None:
                new.append(model(**{key: row[key]}, created_at=now, updated_at=now, **values))
            elif _changed(obj, values):
                obj.updated_at = now
                changed.append(obj)
                fields |= set(values)
            else:
                unchanged.add(row[key])
        model.objects.bulk_create(new, batch_size=_BATCH_SIZE)
        # Foreign keys are written by their column (owner_id), as _save_changed expects.
        names = [model._meta.get_field(name).name for name in sorted(fields)]
        _save_changed(model, changed, [*names, "updated_at"])
        report.created, report.updated, report.unchanged = len(new), len(changed), len(unchanged)
    return report, {**existing, **{getattr(obj, key): obj for obj in new}}, unchanged


def people_upsert(*, actor, rows: list[dict[str, object]]) -> UpsertReport:
    """Create or update people by email. A row's `manager_email` names someone already in
    the directory or in the same batch (managers are set once everyone exists)."""
    rows = [{**row, "email": str(row["email"]).strip().lower()} for row in rows]
    plain = [{k: v for k, v in row.items() if k != "manager_email"} for row in rows]
    with transaction.atomic():
        report, people, unchanged = _upsert(Person, "email", plain, PERSON_FIELDS)
        managed = {row["email"]: row["manager_email"] for row in rows if "manager_email" in row}
        wanted = {str(email).lower() for email in managed.values() if email}
        managers = Person.objects.in_bulk(list(wanted), field_name="email")
        if missing := wanted - set(managers):
            raise DomainError(f"Unknown manager_email: {', '.join(sorted(missing))}.")
        for email, manager_email in managed.items():
            manager = managers.get(str(manager_email).lower()) if manager_email else None
            if manager is not None and manager.email == email:
                raise DomainError(f"{email} cannot be their own manager.")
            person = people[email]
            if person.manager_id != (manager.pk if manager else None):
                person.manager = manager
                person.updated_at = timezone.now()
                person.save(update_fields=["manager", "updated_at"])
                if email in unchanged:
                    unchanged.discard(email)
                    report.unchanged -= 1
                    report.updated += 1
    return report


def cis_upsert(*, actor, rows: list[dict[str, object]]) -> UpsertReport:
    """Create or update configuration items by name."""
    # By column: comparing `owner` objects would load each current owner, one query a row.
    rows = [
        {k: v for k, v in row.items() if k != "owner"}
        | ({"owner_id": row["owner"].pk if row["owner"] else None} if "owner" in row else {})
        for row in rows
    ]
    allowed = (*(name for name in CI_FIELDS if name != "owner"), "owner_id")
    report, _, _ = _upsert(ConfigurationItem, "name", rows, allowed)
    return report
