"""Startup behaviour under production settings, each in a fresh interpreter, since
settings are read once at import."""

import ast
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUG", "SECRET_KEY",
             "SITE_URL", "ANYMAIL_", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE"))}  # fmt: skip
    clean.update({"DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "VAR_DIR": str(tmp_path)})
    clean.update(env)
    return subprocess.run(  # noqa: S603 (fixed argv)
        [sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "SITE_URL": "https://soc.example.com",
    "ALLOWED_HOSTS": "soc.example.com",
    "ANYMAIL_WEBHOOK_SECRET": "provider:" + secrets.token_urlsafe(16),
    "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
}


def test_check_deploy_passes_apart_from_what_the_https_proxy_provides(tmp_path):
    result = run(["manage.py", "check", "--deploy"], tmp_path, **PRODUCTION)

    assert result.returncode == 0, result.stderr
    warnings = {line.split(")")[0].strip("?: (") for line in result.stderr.splitlines()
                if line.startswith("?: (")}  # fmt: skip
    # W004: HSTS, W008: redirect to HTTPS, both set by the reverse proxy in front.
    assert warnings == {"security.W004", "security.W008"}


def test_a_missing_secret_key_with_debug_off_stops_startup_with_a_clear_message(tmp_path):
    env = {**PRODUCTION, "SECRET_KEY": ""}
    result = run(["manage.py", "check"], tmp_path, **env)

    assert result.returncode != 0
    assert "SECRET_KEY is not set. With DEBUG off the app refuses to start" in result.stderr


@pytest.mark.parametrize(
    ("missing", "error_id"),
    [("SITE_URL", "soc.E002"), ("ANYMAIL_WEBHOOK_SECRET", "soc.E003")],
)
def test_a_missing_production_setting_is_a_check_error(tmp_path, missing, error_id):
    env = {**PRODUCTION, missing: ""}
    result = run(["manage.py", "check"], tmp_path, **env)

    assert result.returncode != 0
    assert error_id in result.stderr


def test_the_local_mailbox_with_debug_off_is_a_check_error_that_says_what_to_set(tmp_path):
    result = run(["manage.py", "check"], tmp_path, **{**PRODUCTION, "EMAIL_BACKEND": ""})

    assert result.returncode != 0
    assert "soc.E005" in result.stderr
    assert "set ALLOW_LOCAL_MAILBOX=true" in result.stderr


def test_a_demo_may_allow_the_local_mailbox_with_debug_off(tmp_path):
    env = {**PRODUCTION, "EMAIL_BACKEND": "", "ALLOW_LOCAL_MAILBOX": "true"}
    result = run(["manage.py", "check"], tmp_path, **env)

    assert result.returncode == 0, result.stderr


def test_the_wsgi_entry_point_refuses_to_start_without_the_webhook_secret(tmp_path):
    env = {**PRODUCTION, "ANYMAIL_WEBHOOK_SECRET": ""}
    result = run(["-c", "import soc.wsgi"], tmp_path, **env)

    assert result.returncode != 0
    assert "soc.E003" in result.stderr


def test_a_malformed_value_names_the_variable(tmp_path):
    result = run(["manage.py", "check"], tmp_path, **{**PRODUCTION, "Q_BROKER": "rabbit"})

    assert result.returncode != 0
    assert "Q_BROKER must be one of orm, redis, not 'rabbit'" in result.stderr


def test_a_malformed_metrics_network_names_the_variable_and_the_entry(tmp_path):
    networks = "10.0.0.0/8, 10.0.0.300"
    result = run(["manage.py", "check"], tmp_path, **PRODUCTION, METRICS_ALLOWED_IPS=networks)

    assert result.returncode != 0
    assert (
        "METRICS_ALLOWED_IPS must list addresses or networks like 10.0.0.0/8, not '10.0.0.300'"
    ) in result.stderr


@pytest.mark.parametrize(
    ("value", "shown"),
    [("", "None"), ("14", "14.0"), ("0.5", "0.5"), ("0", "error"), ("fast", "error")],
)
def test_the_send_rate_is_a_positive_number_or_unlimited_when_empty(tmp_path, value, shown):
    env = {**PRODUCTION, "EMAIL_SEND_RATE": value, "DJANGO_SETTINGS_MODULE": "soc.settings"}
    show = "from django.conf import settings; print(settings.EMAIL_SEND_RATE)"
    result = run(["-c", f"import django; django.setup(); {show}"], tmp_path, **env)

    if shown == "error":
        assert result.returncode != 0
        assert "EMAIL_SEND_RATE must be" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == shown


def test_a_variable_left_empty_as_in_the_example_file_takes_its_default(tmp_path):
    # `.env.example` lists every setting as `NAME=`; used as an environment file, the
    # empty paths must not become the working directory.
    empty = dict.fromkeys(["EVIDENCE_ROOT", "INBOUND_ROOT", "STATIC_ROOT", "EMAIL_BACKEND",
                           "TIME_ZONE", "SECURE_COOKIES"], "")  # fmt: skip
    env = {**PRODUCTION, **empty, "DJANGO_SETTINGS_MODULE": "soc.settings"}
    names = ["EVIDENCE_ROOT", "INBOUND_ROOT", "STATIC_ROOT", "EMAIL_BACKEND", "TIME_ZONE",
             "SESSION_COOKIE_SECURE"]  # fmt: skip
    show = f"from django.conf import settings; print([str(getattr(settings, n)) for n in {names}])"
    result = run(["-c", f"import django; django.setup(); {show}"], tmp_path, **env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(
        [f"{tmp_path}/evidence", f"{tmp_path}/inbound", f"{tmp_path}/static",
         "mailflow.localmail.EmailBackend", "UTC", "True"]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("setting", "options"),
    [
        ({}, "{'server_side_binding': True, 'prepare_threshold': 5, 'options': '-c jit=off'}"),
        # Behind PgBouncer before 1.21:
        ({"DB_PREPARED_STATEMENTS": "false"}, "{'options': '-c jit=off'}"),
        ({"DB_JIT": "true"}, "{'server_side_binding': True, 'prepare_threshold': 5}"),
    ],
)
def test_postgresql_prepares_repeated_statements_and_skips_jit_unless_told(
    tmp_path, setting, options
):
    env = {**PRODUCTION, "DATABASE_URL": "postgres://soc@db.example.com:5432/soc", **setting,
           "DJANGO_SETTINGS_MODULE": "soc.settings"}  # fmt: skip
    show = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])"
    result = run(["-c", f"import django; django.setup(); {show}"], tmp_path, **env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == options


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (secrets.token_urlsafe(64)[:49], "49 characters"),  # check --deploy warns below 50
        ("ab" * 30, "2 different"),
        ("insecure-" + secrets.token_urlsafe(64), "development key"),
        ("django-insecure-" + secrets.token_urlsafe(64), "development key"),
    ],
    ids=["49-characters", "2-different-characters", "insecure-prefix", "django-insecure-prefix"],
)
def test_it_refuses_a_secret_key_that_check_deploy_would_warn_about(tmp_path, key, problem):
    result = run(["manage.py", "check"], tmp_path, **{**PRODUCTION, "SECRET_KEY": key})

    assert result.returncode != 0
    assert "soc.E001" in result.stderr
    assert "SECRET_KEY is too weak: it needs at least 50 characters, 5 of them different" in (
        result.stderr
    )
    assert problem in result.stderr.replace("\n", " ")
    assert key not in result.stderr


def test_it_accepts_a_random_secret_key_of_50_characters(tmp_path):
    key = secrets.token_urlsafe(64)[:50]
    result = run(["manage.py", "check", "--deploy"], tmp_path, **{**PRODUCTION, "SECRET_KEY": key})

    assert result.returncode == 0, result.stderr
    assert "soc.E001" not in result.stderr and "security.W009" not in result.stderr


def _example_values() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {name: value for name, value in pairs}


def test_the_example_file_and_the_readme_give_the_defaults_the_settings_use(tmp_path):
    # Sizes, counts and limits: a number in .env.example or the configuration table is the
    # default, and an operator sizing a proxy or a disk reads it from there.
    numbers = {name: value for name, value in _example_values().items() if value.isdigit()}
    assert "INBOUND_MAX_BYTES" in numbers and "EVIDENCE_MAX_BYTES" in numbers
    env = {**PRODUCTION, "DJANGO_SETTINGS_MODULE": "soc.settings"}
    for name in numbers:
        env.pop(name, None)
    # Only the variables read into a setting of the same name (not DB_CONN_MAX_AGE...).
    show = (
        "from django.conf import settings; "
        f"print({{n: str(getattr(settings, n)) for n in {sorted(numbers)} "
        "if hasattr(settings, n)})"
    )
    result = run(["-c", f"import django; django.setup(); {show}"], tmp_path, **env)

    assert result.returncode == 0, result.stderr
    defaults = ast.literal_eval(result.stdout.strip())
    assert {"INBOUND_MAX_BYTES", "EVIDENCE_MAX_BYTES", "ANSWER_MAX_FILE_BYTES"} <= defaults.keys()
    assert defaults == {name: numbers[name] for name in defaults}
    table = (ROOT / "docs" / "configuration.md").read_text()
    for name, value in numbers.items():
        row = re.search(rf"^\| `{name}` \| `(\d+)`", table, re.MULTILINE)
        assert row is None or row.group(1) == value, name
