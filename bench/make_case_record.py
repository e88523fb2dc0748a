"""Build the analyst-pages benchmark's case record (bench.case_record) in the database the
settings name: `uv run python -m bench.make_case_record --incidents 100000 --timeline
1000000 --tasks 200000`. BENCHMARK ONLY: never against a database with real cases."""

import os
import sys

import django


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soc.settings")
    django.setup()
    from bench.case_record import Command  # needs the apps loaded

    Command().run_from_argv(["bench.make_case_record", "case_record", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
