"""`manage.py up HOST:PORT` points the links in emails at that server, unless SITE_URL
says where they should lead."""

import os

import pytest
from django.core.management.base import CommandError

from soc.management.commands.up import point_email_links_at, server_url


@pytest.mark.parametrize(
    ("addrport", "url"),
    [
        ("8001", "http://127.0.0.1:8001"),
        ("127.0.0.1:8001", "http://127.0.0.1:8001"),
        ("localhost:8001", "http://localhost:8001"),
        ("0.0.0.0:8001", "http://127.0.0.1:8001"),
        ("0:8001", "http://127.0.0.1:8001"),
        ("[::1]:8001", "http://[::1]:8001"),
        ("[::]:8001", "http://[::1]:8001"),
    ],
)
def test_the_server_url_is_where_this_machine_reaches_the_server(addrport, url):
    assert server_url(addrport) == url


def test_an_address_runserver_would_refuse_is_refused_before_anything_starts():
    with pytest.raises(CommandError, match="not a valid port number or address:port pair"):
        server_url("127.0.0.1:http")


def test_links_lead_to_the_server_when_site_url_is_not_set(monkeypatch, settings):
    monkeypatch.setenv("SITE_URL", "")  # empty is unset; and restored after the test

    point_email_links_at("http://127.0.0.1:8001")

    assert settings.SITE_URL == "http://127.0.0.1:8001"
    assert os.environ["SITE_URL"] == "http://127.0.0.1:8001"  # for the worker it starts


def test_a_site_url_that_is_set_wins(monkeypatch, settings):
    monkeypatch.setenv("SITE_URL", "https://soc.example.com")
    settings.SITE_URL = "https://soc.example.com"

    point_email_links_at("http://127.0.0.1:8001")

    assert settings.SITE_URL == "https://soc.example.com"
    assert os.environ["SITE_URL"] == "https://soc.example.com"
