"""Tests are not a library: a test module imports no other test module, and the benchmarks
import no test code. What several tests share lives in tests/builders/ or a conftest."""

import ast
from collections.abc import Iterator
from pathlib import Path

from bench.common import ROOT


def imported_modules(source: str, package: str) -> Iterator[str]:
    """Every module `source` (a module of `package`) imports, imports inside functions too."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = absolute(package, node.module, node.level)
            yield base
            # `from tests.api import test_query_counts` imports a module by its name.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def absolute(package: str, module: str | None, level: int) -> str:
    if not level:
        return module or ""
    parts = package.split(".")
    kept = parts[: len(parts) - level + 1]
    return ".".join([*kept, *([module] if module else [])])


def imports_of(path: Path) -> Iterator[str]:
    package = ".".join(path.relative_to(ROOT).parent.parts)
    return imported_modules(path.read_text(), package)


def is_test_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "tests" and parts[-1].startswith("test_")


def test_no_test_module_imports_another():
    """Nor do the builders and conftests: a test module is never a library."""
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for name in imports_of(path)
        if is_test_module(name)
    ]
    assert not offenders, "share through tests/builders/ or a conftest:\n" + "\n".join(offenders)


def test_the_benchmarks_import_no_test_code():
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "bench").rglob("*.py"))
        for name in imports_of(path)
        if name.split(".")[0] == "tests"
    ]
    assert not offenders, "bench/ imports only the app and itself:\n" + "\n".join(offenders)


def test_the_check_sees_every_form_of_import():
    forms = {
        "from tests.mailflow.test_inbound_smoke import AUTH": "tests.mailflow.test_inbound_smoke",
        "import tests.mailflow.test_tracking": "tests.mailflow.test_tracking",
        "from tests.api import test_query_counts": "tests.api.test_query_counts",
        "from .test_tracking import post": "tests.mailflow.test_tracking",
        "from . import test_browser": "tests.mailflow.test_browser",
        "def f():\n    from tests.mailflow.test_forged_mail import spoofed": (
            "tests.mailflow.test_forged_mail"
        ),
    }
    for source, module in forms.items():
        assert module in set(imported_modules(source, "tests.mailflow")), source


def test_the_check_allows_shared_helpers():
    source = (
        "from tests.builders.inbound import AUTH\nfrom tests.factories import category\n"
        "from tests.api.conftest import make_token\nfrom bench.payloads import png\n"
    )
    assert not any(is_test_module(name) for name in imported_modules(source, "tests.api"))
