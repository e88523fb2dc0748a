"""App modules stay small enough to read whole: past MAX_LINES a module is split by what its
parts do, not trimmed."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 600
# Every package of the app's code; migrations are generated, not read.
CHECKED_APPS = ("api", "core", "incidents", "mailflow", "runbooks", "soc")


@pytest.mark.parametrize("app", CHECKED_APPS)
def test_no_module_of_the_app_is_over_the_limit(app):
    long_modules = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts
        and (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long_modules == {}
