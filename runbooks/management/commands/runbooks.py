"""Export runbooks as YAML files, import them again, install the shipped ones that are
absent, and upgrade the shipped ones (see runbooks/files.py)."""

import shlex
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.text import slugify

from core.actors import Actor
from runbooks.files import (
    RunbookFileError,
    Shipped,
    ShippedRunbook,
    import_shipped_runbooks,
    runbook_export,
    runbook_import,
    shipped_runbook_install,
    shipped_runbooks,
)
from runbooks.models import Runbook

UPGRADE_HELP = """\
Compare each runbook shipped with the app (runbooks/library) with the installed runbook of
its name: absent, identical, or differs (with a diff: "-" lines are the installed version,
"+" lines the shipped one). `up` and `runbooks install` install absent runbooks but never
replace one that exists, so an author's edits survive an upgrade of the app. --apply installs or
replaces the named runbooks with the shipped file, as a new version recorded in History."""


class Command(BaseCommand):
    help = (
        "Export runbooks as YAML ('export [NAME ...] [--output DIR]'), import runbook "
        "files ('import FILE [FILE ...]'; all files or, on any problem, none), or compare "
        "the installed runbooks with the shipped ones ('upgrade [NAME ...] [--apply]')."
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
        subcommands.add_parser(
            "install",
            help="Install the shipped runbooks that are absent; never replace one that exists.",
        )
        upgrade = subcommands.add_parser(
            "upgrade", help="Show how the shipped runbooks differ; replace on request.",
            description=UPGRADE_HELP,
        )  # fmt: skip
        upgrade.add_argument(
            "names", nargs="*", metavar="NAME", help="Shipped runbooks (default: all)."
        )
        upgrade.add_argument(
            "--apply",
            action="store_true",
            help="Install or replace the named runbooks with the shipped version.",
        )

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        if subcommand == "export":
            self.export(options["names"], options["output"])
        elif subcommand == "import":
            self.import_(options["files"])
        elif subcommand == "install":
            self.install()
        else:
            self.upgrade(options["names"], apply=options["apply"])

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

    def install(self) -> None:
        # After every `migrate` of a deployment: a new shipped runbook appears, an existing
        # one (edited by an author or not) is left as it is.
        absent = {s.name for s in shipped_runbooks() if s.status == Shipped.ABSENT}
        for runbook in import_shipped_runbooks(actor=Actor.system("manage.py runbooks install")):
            how = f"installed (version {runbook.version})" if runbook.name in absent else "kept"
            self.stdout.write(f"{runbook.name}: {how}")

    # --- upgrade

    def upgrade(self, names: list[str], *, apply: bool) -> None:
        chosen = self._shipped_named(names)
        pending = [s for s in chosen if s.status != Shipped.IDENTICAL]
        if apply and not names:
            # Replacing loses the author's edits: only runbooks named one by one.
            if not pending:
                self.stdout.write("Every shipped runbook is installed as shipped; nothing to do.")
                return
            raise CommandError(
                "Name the runbooks to install or replace, e.g. "
                f"manage.py runbooks upgrade --apply {self._quoted(pending)}"
            )
        if apply:
            with transaction.atomic():
                for shipped in chosen:
                    self._apply(shipped)
            return
        for shipped in chosen:
            self._show(shipped)
        if pending:
            self.stdout.write(
                "\nTo install or replace with the shipped version (a new version, in History; "
                "the installed version's edits are lost,\nso export it first to keep them): "
                f"manage.py runbooks upgrade --apply {self._quoted(pending)}"
            )

    def _shipped_named(self, names: list[str]) -> list[ShippedRunbook]:
        shipped = shipped_runbooks()
        if not names:
            return shipped
        by_name = {s.name: s for s in shipped}
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise CommandError(
                f"No shipped runbook named {', '.join(map(repr, unknown))}; "
                f"shipped: {', '.join(map(repr, by_name))}."
            )
        return [by_name[name] for name in dict.fromkeys(names)]

    def _show(self, shipped: ShippedRunbook) -> None:
        where = f"{shipped.name} ({shipped.source})"
        if shipped.status == Shipped.ABSENT:
            self.stdout.write(f"{where}: absent, not installed")
            return
        how = "identical to" if shipped.status == Shipped.IDENTICAL else "differs from"
        self.stdout.write(f"{where}: {how} the installed version {shipped.version}")
        if shipped.status == Shipped.DIFFERS:
            self.stdout.write(shipped.diff(), ending="")

    def _apply(self, shipped: ShippedRunbook) -> None:
        if shipped.status == Shipped.IDENTICAL:
            self.stdout.write(f"{shipped.name}: already identical; nothing to do")
            return
        verb = "installed" if shipped.status == Shipped.ABSENT else "replaced"
        runbook = shipped_runbook_install(shipped, actor=Actor.system("manage.py runbooks upgrade"))
        self.stdout.write(
            f"{shipped.name}: {verb} from {shipped.source} (version {runbook.version})"
        )

    @staticmethod
    def _quoted(shipped: list[ShippedRunbook]) -> str:
        return shlex.join(s.name for s in shipped)
