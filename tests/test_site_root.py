"""What a browser asks for outside the app's pages: the site root."""


def test_the_site_root_leads_to_the_admin(client):
    response = client.get("/", follow=True)

    assert response.redirect_chain[0] == ("/admin/", 302)
    assert response.request["PATH_INFO"] == "/admin/login/"  # not signed in yet
    assert response.status_code == 200
