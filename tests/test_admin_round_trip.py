"""Every admin change page of the project's own models, saved exactly as it is shown,
saves and changes nothing.

Hand-built POST data misses what only the rendered page holds (a blank extra inline row,
a default shown differently from how it is read back); these tests post the page's own
form back.
"""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from core.actors import Actor
from core.api.services import token_create
from mailflow.models import Mailbox
from soc.demo import load_demo
from tests.admin_history import admin_history
from tests.rendered_forms import form_as_posted

OUR_APPS = {"incidents", "runbooks", "mailflow", "api"}
# Models an admin may change at all (ReadOnlyMixin turns change permission off).
EDITABLE = [
    model
    for model, model_admin in admin.site._registry.items()
    if model._meta.app_label in OUR_APPS
    and model_admin.has_change_permission.__func__ is admin.ModelAdmin.has_change_permission
]


@pytest.fixture
def demo_world(db):
    load_demo()
    token_create(
        actor=Actor.system("tests"),
        name="Splunk ES",
        user=get_user_model().objects.get(username="analyst"),
        scope="write",
    )
    # The demo reads no mailbox (there is no IMAP server to read): one that is off.
    Mailbox.objects.create(
        name="replies",
        enabled=False,
        host="imap.example.com",
        username="replies@example.com",
        secret_env="MAILBOX_REPLIES_PASSWORD",
    )


@pytest.mark.parametrize("model", EDITABLE, ids=lambda model: model._meta.label)
def test_a_change_page_saved_as_shown_saves_without_changes(admin_client, demo_world, model):
    obj = model._default_manager.order_by("pk").first()
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    page = admin_client.get(url).content.decode()

    response = admin_client.post(url, form_as_posted(page, f"{opts.model_name}_form", "_save"))

    assert response.status_code == 302, response.context and response.context["errors"]
    assert admin_history(obj)[-1] == ("changed", "admin", "No fields changed.")
