"""Single sign-on's settings at startup, each in a fresh interpreter (settings are read once,
at import): on only with a client id, and a half-done set-up stops startup, saying what is
missing."""

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SHOW_BACKENDS = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.AUTHENTICATION_BACKENDS)"
)
PROVIDER = {
    "OIDC_RP_CLIENT_ID": "soc-confirm",
    "OIDC_RP_CLIENT_SECRET": "secret",
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "https://id.example.com/authorize",
    "OIDC_OP_TOKEN_ENDPOINT": "https://id.example.com/token",
    "OIDC_OP_USER_ENDPOINT": "https://id.example.com/userinfo",
    "OIDC_OP_JWKS_ENDPOINT": "https://id.example.com/jwks",
    "OIDC_GROUPS_ANALYST": "soc-analysts",
}


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "LOCAL_LOGIN"))}
    clean.update(
        DEBUG="true",
        ENV_FILE=os.devnull,
        DJANGO_SETTINGS_MODULE="soc.settings",
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        VAR_DIR=str(tmp_path),
        **env,
    )
    return subprocess.run(  # noqa: S603 (fixed argv)
        [sys.executable, "-c", SHOW_BACKENDS],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def backends(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def test_without_a_client_id_sign_in_is_as_before(tmp_path):
    assert backends(start(tmp_path)) == [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]


def test_a_client_id_adds_the_provider_after_passwords(tmp_path):
    assert backends(start(tmp_path, **PROVIDER)) == [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
        "core.sso.backends.OidcBackend",
    ]


def test_passwords_off_leave_only_the_break_glass_backend(tmp_path):
    result = start(tmp_path, **PROVIDER, LOCAL_LOGIN="false", LOCAL_LOGIN_USERS="breakglass")

    assert backends(result) == [
        "axes.backends.AxesStandaloneBackend",
        "core.sso.backends.BreakGlassBackend",
        "core.sso.backends.OidcBackend",
    ]


def test_a_client_id_without_the_endpoints_stops_startup_naming_them(tmp_path):
    env = {**PROVIDER, "OIDC_OP_TOKEN_ENDPOINT": "", "OIDC_OP_JWKS_ENDPOINT": ""}

    result = start(tmp_path, **env)

    assert result.returncode != 0
    assert "ImproperlyConfigured: OIDC_RP_CLIENT_ID is set, so single sign-on needs " in (
        result.stderr
    )
    assert "needs OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_JWKS_ENDPOINT too" in result.stderr


def test_an_endpoint_that_is_no_url_stops_startup(tmp_path):
    result = start(tmp_path, **{**PROVIDER, "OIDC_OP_USER_ENDPOINT": "id.example.com/userinfo"})

    assert result.returncode != 0
    assert "OIDC_OP_USER_ENDPOINT: not an absolute http(s) URL" in result.stderr


def test_passwords_off_without_single_sign_on_stops_startup(tmp_path):
    result = start(tmp_path, LOCAL_LOGIN="false", LOCAL_LOGIN_USERS="breakglass")

    assert result.returncode != 0
    assert "LOCAL_LOGIN=false turns passwords off for all but LOCAL_LOGIN_USERS" in result.stderr


def test_single_sign_on_without_any_mapped_group_stops_startup(tmp_path):
    result = start(tmp_path, **{**PROVIDER, "OIDC_GROUPS_ANALYST": ""})

    assert result.returncode != 0
    assert "neither OIDC_GROUPS_ANALYST nor OIDC_GROUPS_AUTHOR is set" in result.stderr
