"""Wiring a reader can see from the call site: nothing an app does at start-up, and no
context variable, changes what another module's code does. Apps register checks in
ready(), nothing else; everything else is named in settings or passed as a parameter."""

import ast
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "core", "incidents", "mailflow", "runbooks", "soc")
APP_LABELS = ("api", "incidents", "mailflow", "runbooks", "soc")


def app_modules() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def imported_modules(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {node.module or "", *(f"{node.module}.{a.name}" for a in node.names)}
    return names


# What a log line is about (request id, incident, task): it changes what a line says,
# never what code does, and only core.logging reads it.
LOG_CONTEXT = "core/log_context.py"


def test_no_app_module_changes_behaviour_through_a_context_variable():
    using = [
        str(path.relative_to(ROOT))
        for path in app_modules()
        if "contextvars" in {n.split(".")[0] for n in imported_modules(ast.parse(path.read_text()))}
    ]
    assert using == [LOG_CONTEXT]


def test_only_the_log_formatting_reads_the_log_context():
    readers = [
        str(path.relative_to(ROOT))
        for path in app_modules()
        if "core.log_context.current" in imported_modules(ast.parse(path.read_text()))
        or "log_context.current(" in path.read_text()
    ]
    assert readers == ["core/logging.py"]


def _ready_statements(config) -> list[ast.stmt]:
    source = Path(config.module.__file__).with_name("apps.py")
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.FunctionDef) and node.name == "ready":
            return [s for s in node.body if not isinstance(s, ast.Expr)]  # docstrings
    return []


@pytest.mark.parametrize("label", APP_LABELS)
def test_ready_does_nothing_but_register_checks(label):
    for statement in _ready_statements(apps.get_app_config(label)):
        assert isinstance(statement, ast.ImportFrom), ast.unparse(statement)
        assert [alias.name for alias in statement.names] == ["checks"], ast.unparse(statement)


def _is_admin_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] in PACKAGES and any(p == "admin" or p.startswith("admin_") for p in parts[1:])


def test_no_api_module_imports_an_admin_module():
    """The REST API and the admin both sit on the services; what they share (such as how
    evidence is served) lives in a neutral module, so neither depends on the other."""
    api_modules = [
        path
        for path in app_modules()
        if (path.name == "api.py" or path.relative_to(ROOT).parts[0] == "api")
        and not path.name.startswith("admin")
    ]
    assert any(path.name == "api.py" for path in api_modules)
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in api_modules
        for name in sorted(imported_modules(ast.parse(path.read_text())))
        if _is_admin_module(name)
    ]
    assert offenders == []
