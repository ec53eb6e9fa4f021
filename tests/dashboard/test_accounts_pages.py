"""Sign up, log in (password and API key), log out, password reset, API keys and the callback
signing secret, through the pages with Django's test client."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey, User
from accounts.selectors import ApiKeyInvalid, api_key_authenticate
from accounts.services import api_key_create, api_key_revoke
from billing.models import Transfer
from billing.selectors import balance_get
from outbound.services import webhook_secret_get_or_create
from tests.dashboard.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SIGNUP = {"email": "New.Person@Example.com", "password1": PASSWORD, "password2": PASSWORD}


def session_user_id(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value else None


def test_signup_creates_the_user_logs_in_and_grants_the_signup_credits_once(
    client: Client, settings
) -> None:
    settings.BILLING_SIGNUP_GRANT_CREDITS = 75
    response = client.post(reverse("dashboard:signup"), SIGNUP)
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:home")
    user = User.objects.get()
    assert user.email == "new.person@example.com" and user.check_password(PASSWORD)
    assert session_user_id(client) == user.pk
    assert balance_get(user=user).available == 75
    assert Transfer.objects.filter(kind="grant", idempotency_key=f"signup:{user.pk}").count() == 1
    # The home page shows the granted credits in its first card.
    page = client.get(reverse("dashboard:home")).content.decode()
    assert re.search(r'id="card-available"><div class="value">75<', page)


def test_signup_refuses_a_taken_email_in_any_case_and_weak_passwords(
    client: Client, member
) -> None:
    taken = client.post(reverse("dashboard:signup"), {**SIGNUP, "email": member.email.upper()})
    assert taken.status_code == 200 and "already exists" in taken.content.decode()
    weak = client.post(
        reverse("dashboard:signup"), {**SIGNUP, "password1": "123", "password2": "123"}
    )
    assert weak.status_code == 200 and "errorlist" in weak.content.decode()
    mismatch = client.post(reverse("dashboard:signup"), {**SIGNUP, "password2": "other-Pass1!"})
    assert "do not match" in mismatch.content.decode()
    assert User.objects.count() == 1
    assert not Transfer.objects.filter(kind="grant", reason="signup grant").exists()


def test_login_with_email_in_any_case_then_logout_by_post_only(client: Client, member) -> None:
    response = client.post(
        reverse("dashboard:login"), {"username": member.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:home")
    assert session_user_id(client) == member.pk
    assert client.get(reverse("dashboard:logout")).status_code == 405
    assert session_user_id(client) == member.pk
    assert client.post(reverse("dashboard:logout")).status_code == 302
    assert session_user_id(client) is None


def test_wrong_password_does_not_log_in(client: Client, member) -> None:
    response = client.post(
        reverse("dashboard:login"), {"username": member.email, "password": "wrong"}
    )
    assert response.status_code == 200 and session_user_id(client) is None


def test_dashboard_pages_need_a_login(client: Client, db) -> None:
    for name in (
        "dashboard:home",
        "dashboard:new",
        "dashboard:history",
        "dashboard:keys",
        "dashboard:credits",
        "dashboard:ledger-csv",
    ):
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("dashboard:login") + "?next=")


def test_login_with_an_api_key_opens_that_keys_account(client: Client, member) -> None:
    token = api_key_create(user=member, name="cli").token
    response = client.post(reverse("dashboard:login-key"), {"api_key": f"  {token} "})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:home")
    assert session_user_id(client) == member.pk
    assert ApiKey.objects.get(user=member).last_used_at is not None


def test_login_with_a_revoked_or_malformed_key_is_refused(client: Client, member) -> None:
    created = api_key_create(user=member, name="old")
    api_key_revoke(api_key=created.api_key)
    for token in (created.token, "vsk_not-a-key", ""):
        response = client.post(reverse("dashboard:login-key"), {"api_key": token})
        assert response.status_code == 400
        assert session_user_id(client) is None


def test_password_reset_mails_a_link_to_this_server_that_sets_a_new_password(
    client: Client, member, settings
) -> None:
    settings.PUBLIC_BASE_URL = ""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "panel.example.test"]
    response = client.post(
        reverse("dashboard:password_reset"), {"email": member.email}, HTTP_HOST="panel.example.test"
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:password_reset_done")
    (message,) = mail.outbox
    assert message.to == [member.email]
    assert message.subject == "Reset your veosaas password"
    link = re.search(r"http://panel\.example\.test(/accounts/password-reset/\S+/)", message.body)
    assert link, message.body
    # The confirm view redirects once to a URL without the token, then takes the new password.
    landing = client.get(link.group(1), HTTP_HOST="panel.example.test")
    assert landing.status_code == 302
    form_url = landing["Location"]
    new_password = "Another-long-pass9"
    done = client.post(
        form_url,
        {"new_password1": new_password, "new_password2": new_password},
        HTTP_HOST="panel.example.test",
    )
    assert done.status_code == 302
    assert done["Location"] == reverse("dashboard:password_reset_complete")
    member.refresh_from_db()
    assert member.check_password(new_password)


def test_password_reset_for_an_unknown_email_sends_nothing_and_says_the_same(
    client: Client, db
) -> None:
    response = client.post(reverse("dashboard:password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:password_reset_done")
    assert mail.outbox == []


def test_password_reset_link_uses_public_base_url_when_set(
    client: Client, member, settings
) -> None:
    settings.PUBLIC_BASE_URL = "https://video.example.com"
    client.post(reverse("dashboard:password_reset"), {"email": member.email})
    assert "https://video.example.com/accounts/password-reset/" in mail.outbox[0].body


# ---------------------------------------------------------------------------------------------
# API keys and the signing secret
# ---------------------------------------------------------------------------------------------


def test_creating_a_key_shows_the_token_once(browser: Client, member) -> None:
    posted = browser.post(reverse("dashboard:keys"), {"name": "worker"})
    assert posted.status_code == 302 and posted["Location"] == reverse("dashboard:keys")
    response = browser.get(posted["Location"])
    page = response.content.decode()
    token = re.search(r'<code id="new-key-token">([^<]+)</code>', page).group(1)
    key = api_key_authenticate(token=token)
    assert key.user_id == member.pk and key.name == "worker"
    assert 'data-copy-target="#new-key-token"' in page
    assert "no-store" in response["Cache-Control"]
    # Never again: the list shows only the prefix, and the token is stored nowhere.
    listing = browser.get(reverse("dashboard:keys")).content.decode()
    assert token not in listing and key.masked in listing
    assert not ApiKey.objects.filter(digest=token).exists()


def test_refreshing_after_creating_a_key_creates_no_second_key(browser: Client, member) -> None:
    """Post/redirect/get: the browser's refresh repeats the GET, never the POST."""
    posted = browser.post(reverse("dashboard:keys"), {"name": "once"})
    assert posted.status_code == 302
    shown = browser.get(posted["Location"])
    refreshed = browser.get(posted["Location"])
    assert ApiKey.objects.filter(user=member).count() == 1
    assert 'id="new-key-token"' in shown.content.decode()
    assert 'id="new-key-token"' not in refreshed.content.decode()


def test_keys_page_lists_only_own_keys_with_last_use(browser: Client, member, stranger) -> None:
    mine = api_key_create(user=member, name="mine-key").api_key
    theirs = api_key_create(user=stranger, name="their-key").api_key
    page = browser.get(reverse("dashboard:keys")).content.decode()
    assert f'id="key-{mine.pk}"' in page and "mine-key" in page
    assert f'id="key-{theirs.pk}"' not in page and "their-key" not in page
    assert theirs.masked not in page
    assert "never" in page


def test_revoking_a_key_stops_it_at_once(browser: Client, member) -> None:
    created = api_key_create(user=member, name="gone")
    api_key_authenticate(token=created.token)  # cached now
    response = browser.post(reverse("dashboard:key-revoke", args=[created.api_key.pk]))
    assert response.status_code == 302
    with pytest.raises(ApiKeyInvalid):
        api_key_authenticate(token=created.token)
    assert "Revoked" in browser.get(reverse("dashboard:keys")).content.decode()


def test_another_accounts_key_cannot_be_revoked(browser: Client, stranger) -> None:
    theirs = api_key_create(user=stranger, name="theirs")
    assert (
        browser.post(reverse("dashboard:key-revoke", args=[theirs.api_key.pk])).status_code == 404
    )
    assert api_key_authenticate(token=theirs.token).revoked_at is None


def test_revoke_and_rotate_need_post(browser: Client, member) -> None:
    key = api_key_create(user=member).api_key
    assert browser.get(reverse("dashboard:key-revoke", args=[key.pk])).status_code == 405
    assert browser.get(reverse("dashboard:secret-rotate")).status_code == 405


def test_signing_secret_is_shown_and_rotates(browser: Client, member) -> None:
    first = webhook_secret_get_or_create(user=member)
    assert first in browser.get(reverse("dashboard:keys")).content.decode()
    response = browser.post(reverse("dashboard:secret-rotate"))
    assert response.status_code == 302 and response["Location"].endswith("#signing-secret")
    member.refresh_from_db()
    assert member.webhook_secret.startswith("whsec_") and member.webhook_secret != first
    page = browser.get(reverse("dashboard:keys")).content.decode()
    assert member.webhook_secret in page and first not in page


# ---------------------------------------------------------------------------------------------
# CSRF (RELIABILITY D2): every form that writes needs the token
# ---------------------------------------------------------------------------------------------


def csrf_token(client: Client, url: str) -> str:
    page = client.get(url).content.decode()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


@pytest.mark.parametrize(
    ("url_name", "args", "data"),
    [
        ("dashboard:keys", [], {"name": "x"}),
        ("dashboard:secret-rotate", [], {}),
        ("dashboard:logout", [], {}),
    ],
)
def test_account_forms_refuse_posts_without_csrf_token(
    csrf_browser: Client, member, url_name, args, data
) -> None:
    before = member.webhook_secret
    assert csrf_browser.post(reverse(url_name, args=args), data).status_code == 403
    member.refresh_from_db()
    assert ApiKey.objects.count() == 0 and member.webhook_secret == before
    assert session_user_id(csrf_browser) == member.pk
    token = csrf_token(csrf_browser, reverse("dashboard:keys"))
    accepted = csrf_browser.post(
        reverse(url_name, args=args), {**data, "csrfmiddlewaretoken": token}
    )
    assert accepted.status_code in (201, 302)


def test_revoke_refuses_a_post_without_csrf_token(csrf_browser: Client, member) -> None:
    key = api_key_create(user=member).api_key
    assert csrf_browser.post(reverse("dashboard:key-revoke", args=[key.pk])).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None


@pytest.mark.parametrize(
    "url_name",
    ["dashboard:signup", "dashboard:login", "dashboard:login-key", "dashboard:password_reset"],
)
def test_anonymous_forms_refuse_posts_without_csrf_token(db, url_name) -> None:
    client = Client(enforce_csrf_checks=True)
    assert (
        client.post(
            reverse(url_name), {**SIGNUP, "username": "a@b.c", "password": "x", "api_key": "k"}
        ).status_code
        == 403
    )
    assert not User.objects.exists()
    assert mail.outbox == []
