"""What a browser asks for outside the app's pages: the site root and the icon."""

from django.contrib.staticfiles import finders


def test_the_site_root_leads_to_the_admin(client):
    response = client.get("/", follow=True)

    assert response.redirect_chain[0] == ("/admin/", 302)
    assert response.request["PATH_INFO"] == "/admin/login/"  # not signed in yet
    assert response.status_code == 200


def test_favicon_ico_leads_to_the_apps_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 302
    assert response["Location"] == "/static/soc/favicon.ico"
    icon = finders.find("soc/favicon.ico")
    assert icon is not None
    with open(icon, "rb") as file:
        assert file.read(4) == b"\x00\x00\x01\x00"  # an ICO file's header


def test_admin_pages_name_the_icon(client):
    page = client.get("/admin/login/").content.decode()

    assert '<link rel="icon" href="/static/soc/favicon.ico"' in page
