#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soc.settings")
    if sys.argv[1:2] == ["up"]:
        # `up` is the local demo launcher (README's first command): it runs in DEBUG unless
        # told otherwise, so a fresh clone starts without any configuration. Production
        # never runs it and gets DEBUG off by default.
        os.environ.setdefault("DEBUG", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
