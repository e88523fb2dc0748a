#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soc.settings")
    if sys.argv[1:2] == ["up"]:
        # The local demo launcher (README's first command), before the settings are read.
        from soc.local import prepare_up

        prepare_up(Path(__file__).resolve().parent)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
