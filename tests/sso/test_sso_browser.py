"""Single sign-on in a real browser (the system Chromium, driven by Playwright) against a
real OpenID provider on a loopback port: the admin's sign-in page, "Sign in with ...", the
provider's form, and back in the admin as an analyst."""

from django.contrib.auth.models import User
from django.urls import reverse

from incidents.groups import SOC_ANALYST
from tests.browsing import BROWSER_MARKS
from tests.builders.oidc import ANALYSTS, PROVIDER_NAME

pytestmark = BROWSER_MARKS


def test_an_analyst_signs_in_at_the_provider_and_lands_in_the_admin(
    chromium, live_server, provider, shots
):
    from playwright.sync_api import expect

    provider.user(
        "00u1-alice",
        email="alice@corp.example.com",
        given_name="Alice",
        family_name="Analyst",
        preferred_username="alice@corp.example.com",
        groups=[ANALYSTS],
    )
    page = chromium.new_page()
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    button = page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}")
    expect(button).to_be_visible()
    expect(page.locator("#login-form")).to_be_visible()
    page.screenshot(path=str(shots / "sso-login-page.png"), full_page=True)

    button.click()
    page.wait_for_url(f"{provider.url}/oauth2/authorize*")
    page.fill("input[name=sub]", "00u1-alice")
    page.get_by_role("button", name="Authorize").click()

    page.wait_for_url(f"{live_server.url}{reverse('admin:index')}")
    expect(page.locator("#user-tools")).to_contain_text("Alice")
    expect(page.get_by_role("heading", name="Incidents, tasks and runbooks")).to_be_visible()
    page.screenshot(path=str(shots / "sso-signed-in-admin.png"), full_page=True)
    user = User.objects.get(sso_identity__sub="00u1-alice")
    assert user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == [SOC_ANALYST]


def test_with_passwords_off_someone_outside_the_groups_meets_a_clear_refusal(
    chromium, live_server, provider, settings, shots
):
    from playwright.sync_api import expect

    settings.LOCAL_LOGIN = False
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "core.sso.backends.BreakGlassBackend",
        "core.sso.backends.OidcBackend",
    ]
    provider.user("00u2-mallory", email="mallory@corp.example.com", groups=["finance"])
    page = chromium.new_page()
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    expect(page.locator("#login-form")).to_be_hidden()  # folded under break-glass
    page.get_by_text("Break-glass sign-in").click()
    expect(page.locator("#login-form")).to_be_visible()
    page.screenshot(path=str(shots / "sso-login-break-glass.png"), full_page=True)

    page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()
    page.fill("input[name=sub]", "00u2-mallory")
    page.get_by_role("button", name="Authorize").click()

    expect(page.get_by_role("heading", name="No access")).to_be_visible()
    page.screenshot(path=str(shots / "sso-no-access.png"), full_page=True)
    assert not User.objects.get(sso_identity__sub="00u2-mallory").is_staff
