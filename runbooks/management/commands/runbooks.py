"""Export runbooks as YAML files and import them again (see runbooks/files.py)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.text import slugify

from incidents.actors import Actor
from runbooks.files import RunbookFileError, runbook_export, runbook_import
from runbooks.models import Runbook


class Command(BaseCommand):
    help = (
        "Export runbooks as YAML ('export [NAME ...] [--output DIR]') or import runbook "
        "files ('import FILE [FILE ...]'; all files or, on any problem, none)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(dest="subcommand", required=True)
        export = subcommands.add_parser("export", help="Write runbooks as YAML.")
        export.add_argument("names", nargs="*", metavar="NAME", help="Runbooks (default: all).")
        export.add_argument(
            "--output",
            type=Path,
            metavar="DIR",
            help="Write one <name>.yaml per runbook here instead of printing to stdout.",
        )
        import_ = subcommands.add_parser("import", help="Create or update runbooks from files.")
        import_.add_argument("files", nargs="+", type=Path, metavar="FILE")

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        if subcommand == "export":
            self.export(options["names"], options["output"])
        else:
            self.import_(options["files"])

    def export(self, names: list[str], output: Path | None) -> None:
        runbooks = list(Runbook.objects.filter(name__in=names) if names else Runbook.objects.all())
        missing = set(names) - {runbook.name for runbook in runbooks}
        if missing:
            raise CommandError(f"No runbook named {', '.join(map(repr, sorted(missing)))}.")
        if output is None:
            # One YAML stream, one document per runbook.
            self.stdout.write("---\n".join(runbook_export(r) for r in runbooks), ending="")
            return
        output.mkdir(parents=True, exist_ok=True)
        for runbook in runbooks:
            path = output / f"{slugify(runbook.name)}.yaml"
            path.write_text(runbook_export(runbook), encoding="utf-8")
            self.stdout.write(f"Wrote {path}")

    def import_(self, files: list[Path]) -> None:
        actor = Actor.system("manage.py runbooks import")
        failed = False
        # All files or none: each import checks its file before writing, so after a bad
        # file the transaction is still usable and the rest are checked too, to report
        # every problem in one go; raising at the end rolls back the good ones.
        with transaction.atomic():
            for file in files:
                try:
                    text = file.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as error:
                    self.stderr.write(f"{file}: cannot read: {error}")
                    failed = True
                    continue
                try:
                    runbook = runbook_import(text, actor=actor, source=str(file))
                except RunbookFileError as error:
                    for problem in error.problems:
                        self.stderr.write(f"{file}: {problem}")
                    failed = True
                    continue
                self.stdout.write(f"{file}: {runbook.name} (version {runbook.version})")
            if failed:
                raise CommandError("Problems found; no runbook was imported.")
