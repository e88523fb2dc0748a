"""SERVE_STATIC, which the container image sets: the app serves the collected static files
itself, since no web server beside gunicorn does. Each case in a fresh interpreter, since
settings are read once at import."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Collects the static files, then asks the app for the admin's stylesheet.
FETCH = """
import django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("collectstatic", interactive=False, verbosity=0)
response = Client().get("/static/admin/css/base.css")
body = b"".join(response.streaming_content) if response.streaming else response.content
print(response.status_code, response.get("Content-Type"), len(body), sep="|")
"""


def fetch_stylesheet(tmp_path: Path, serve_static: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUG", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="soc.settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="testserver",
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        VAR_DIR=str(tmp_path),
        STATIC_ROOT=str(tmp_path / "static"),
        SERVE_STATIC=serve_static,
    )
    result = subprocess.run(  # noqa: S603 (fixed argv)
        [sys.executable, "-c", FETCH], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split("|")


def test_with_serve_static_the_app_serves_the_collected_files(tmp_path):
    status, content_type, size = fetch_stylesheet(tmp_path, "true")

    assert status == "200" and content_type.startswith("text/css")
    collected = tmp_path / "static" / "admin" / "css" / "base.css"
    assert int(size) == collected.stat().st_size > 0


def test_without_it_static_files_are_left_to_the_web_server_in_front(tmp_path):
    status, *_ = fetch_stylesheet(tmp_path, "false")

    assert status == "404"
