"""The local `.env` file: `manage.py up` writes it once, the settings read it, and a
variable set in the environment wins over it."""

import os
import stat
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from bench.common import ROOT
from soc.envfile import create_local_env_file, read_env_file


def test_it_reads_names_values_quotes_and_comments(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# a comment\n"
        "\n"
        "DEBUG=true\n"
        "export TIME_ZONE = Europe/Berlin\n"
        'DEFAULT_FROM_EMAIL="SOC <soc@example.com>"  # quoted: spaces and <> kept\n'
        "REPLY_DOMAIN='reply.example.com'\n"
        "SITE_URL=http://127.0.0.1:8001 # after a space, # starts a comment\n"
        "SECRET_KEY=abc#def\n"
        "VAR_DIR=\n"
    )

    assert read_env_file(env_file) == {
        "DEBUG": "true",
        "TIME_ZONE": "Europe/Berlin",
        "DEFAULT_FROM_EMAIL": "SOC <soc@example.com>",
        "REPLY_DOMAIN": "reply.example.com",
        "SITE_URL": "http://127.0.0.1:8001",
        "SECRET_KEY": "abc#def",
        "VAR_DIR": "",
    }


def test_no_file_sets_nothing(tmp_path):
    assert read_env_file(tmp_path / ".env") == {}


@pytest.mark.parametrize(
    "line", ["SECRET_KEY s3cret-value", "SECRET KEY=s3cret-value", "SECRET_KEY='s3cret-value"]
)
def test_a_malformed_line_stops_startup_with_its_number_and_not_its_secret(tmp_path, line):
    env_file = tmp_path / ".env"
    env_file.write_text(f"DEBUG=true\n{line}\n")

    with pytest.raises(ImproperlyConfigured) as error:
        read_env_file(env_file)

    assert f"{env_file}, line 2: expected NAME=value" in str(error.value)
    assert "s3cret" not in str(error.value)


def test_up_writes_debug_and_a_new_secret_key_readable_by_its_owner_only(tmp_path):
    env_file = tmp_path / ".env"

    assert create_local_env_file(env_file) is True

    text = env_file.read_text()
    assert text.startswith("# Local settings for this checkout, written by `manage.py up`")
    variables = read_env_file(env_file)
    assert variables["DEBUG"] == "true"
    assert len(variables["SECRET_KEY"]) >= 50
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_up_never_overwrites_an_existing_file(tmp_path):
    env_file = tmp_path / ".env"
    create_local_env_file(env_file)
    first = env_file.read_text()

    assert create_local_env_file(env_file) is False
    assert env_file.read_text() == first

    env_file.write_text("SECRET_KEY=my-own\n")
    assert create_local_env_file(env_file) is False
    assert env_file.read_text() == "SECRET_KEY=my-own\n"


def _settings_seen_by_a_command(tmp_path, **env: str) -> list[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DEBUG", "SECRET_KEY", "TIME_ZONE", "DJANGO_SETTINGS_MODULE")
    }
    clean.update(VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", **env)
    show = "from django.conf import settings as s; print(s.DEBUG, s.SECRET_KEY, s.TIME_ZONE)"
    result = subprocess.run(  # noqa: S603 (fixed argv)
        [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", show],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_settings_read_the_file_and_the_environment_wins(tmp_path):
    env_file = tmp_path / "local.env"
    env_file.write_text("DEBUG=true\nSECRET_KEY=from-the-file\nTIME_ZONE=Europe/Berlin\n")

    from_file = _settings_seen_by_a_command(tmp_path, ENV_FILE=str(env_file))
    overridden = _settings_seen_by_a_command(
        tmp_path, ENV_FILE=str(env_file), TIME_ZONE="Asia/Tokyo", SECRET_KEY="from-the-env"
    )

    assert from_file == ["True", "from-the-file", "Europe/Berlin"]
    assert overridden == ["True", "from-the-env", "Asia/Tokyo"]


def test_the_example_file_reads_as_a_local_file():
    variables = read_env_file(ROOT / ".env.example")

    assert variables["DEBUG"] == "false"
    assert variables["DEFAULT_FROM_EMAIL"] == "SOC <soc@example.com>"
    assert "ENV_FILE" not in variables  # read from the environment only
