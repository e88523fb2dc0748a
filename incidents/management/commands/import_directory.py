"""Load people or configuration items from a CSV export: all rows or, on any error, none."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from incidents.directory import (
    MAX_IMPORT_BYTES,
    DirectoryImportError,
    directory_import_cis,
    directory_import_people,
)

IMPORTERS = {"people": directory_import_people, "cis": directory_import_cis}


class Command(BaseCommand):
    help = (
        "Import people (email,first_name,last_name,department,title,manager_email,language) "
        "or configuration items (name,kind,hostname,ip_address,owner_email) from a UTF-8 CSV "
        "file. Nothing is imported unless every row is valid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("what", choices=sorted(IMPORTERS), help="What the file holds.")
        parser.add_argument("file", type=Path, help="The CSV file.")

    def handle(self, *args: Any, what: str, file: Path, **options: Any) -> None:
        try:
            with file.open("rb") as handle:
                # One byte over the limit is enough for the service to refuse a huge file
                # without it ever being read into memory whole.
                data = handle.read(MAX_IMPORT_BYTES + 1)
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}") from None
        try:
            report = IMPORTERS[what](data=data)
        except DirectoryImportError as error:
            for row_error in error.errors:
                self.stderr.write(str(row_error))
            raise CommandError(
                f"{len(error.errors)} problem(s) in {file}; nothing was imported."
            ) from None
        self.stdout.write(self.style.SUCCESS(f"Created {report.created}, updated {report.updated}"))
