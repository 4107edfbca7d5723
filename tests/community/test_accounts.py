"""Accounts end to end: sign-up, the emailed confirmation link, login, the profile's runs and API token, lockout."""
from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.authtoken.models import Token

from tests.leaderboard.factories import RunFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-Passw0rd-for-tests"


def sign_up(client: Client, username: str = "alice", email: str = "alice@example.org"):
    return client.post(reverse("account_signup"), {
        "username": username, "email": email, "password1": PASSWORD, "password2": PASSWORD})


def confirmation_link(message) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def log_in(client: Client, login: str = "alice", password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": login, "password": password})


def test_account_pages_use_the_site_layout():
    client = Client()
    for name in ("account_login", "account_signup", "account_reset_password"):
        response = client.get(reverse(name))
        assert response.status_code == 200
        html = response.content.decode()
        assert 'class="site-header"' in html and "Scores are computed from stored per-sample results" in html
        assert "Menu:" not in html  # allauth's stock layout


def test_signup_sends_a_confirmation_link_and_login_waits_for_it():
    client = Client()
    response = sign_up(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.org"]
    link = confirmation_link(mail.outbox[0])

    # Before confirming, a login lands on the "confirm your email" page rather than signing in.
    response = log_in(Client())
    assert response.status_code == 302 and response["Location"] == reverse("account_email_verification_sent")

    page = client.get(link)
    assert page.status_code == 200 and "alice@example.org" in page.content.decode()
    assert client.post(link).status_code == 302

    fresh = Client()
    response = log_in(fresh)
    assert response.status_code == 302 and response["Location"] == reverse("community:profile")
    profile = fresh.get(reverse("community:profile"))
    assert profile.status_code == 200 and profile.context["user"].username == "alice"


def test_password_reset_by_email_sets_a_new_password():
    user = get_user_model().objects.create_user("bob", "bob@example.org", PASSWORD)
    user.emailaddress_set.create(email="bob@example.org", verified=True, primary=True)
    client = Client()
    response = client.post(reverse("account_reset_password"), {"email": "bob@example.org"})
    assert response.status_code == 302 and response["Location"] == reverse("account_reset_password_done")
    assert client.get(response["Location"]).status_code == 200
    path = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/[^\s]+/)", mail.outbox[0].body).group(1)
    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200 and "Set a new password" in form_page.content.decode()
    new_password = "another-Passw0rd-entirely"
    response = client.post(form_page.redirect_chain[-1][0] if form_page.redirect_chain else path,
                           {"password1": new_password, "password2": new_password})
    assert response.status_code == 302 and response["Location"] == reverse("account_reset_password_from_key_done")
    assert log_in(Client(), "bob", new_password)["Location"] == reverse("community:profile")


def test_logout_page_and_post():
    user = get_user_model().objects.create_user("carol", "carol@example.org", PASSWORD)
    client = Client()
    client.force_login(user)
    assert client.get(reverse("account_logout")).status_code == 200
    assert client.post(reverse("account_logout")).status_code == 302
    assert client.get(reverse("community:profile"))["Location"].startswith(reverse("account_login"))


def test_profile_lists_own_runs_with_private_marked_and_not_others():
    alice = get_user_model().objects.create_user("alice", "alice@example.org", PASSWORD)
    bob = get_user_model().objects.create_user("bob", "bob@example.org", PASSWORD)
    public = RunFactory(created_by=alice)
    private = RunFactory(created_by=alice, is_private=True)
    others = RunFactory(created_by=bob)
    client = Client()
    client.force_login(alice)
    response = client.get(reverse("community:profile"))
    html = response.content.decode()
    assert {run.pk for run in response.context["runs"]} == {public.pk, private.pk}
    assert f'data-run="{private.pk}"' in html and f'data-run="{others.pk}"' not in html
    private_row = html.split(f'data-run="{private.pk}"')[1].split("</tr>")[0]
    assert "private" in private_row


def test_token_is_shown_once_then_revoked():
    alice = get_user_model().objects.create_user("alice", "alice@example.org", PASSWORD)
    client = Client()
    client.force_login(alice)
    assert client.get(reverse("community:token_create")).status_code == 405  # POST only

    response = client.post(reverse("community:token_create"), follow=True)
    token = Token.objects.get(user=alice)
    assert token.key in response.content.decode()
    assert token.key not in client.get(reverse("community:profile")).content.decode()  # once only
    assert client.get("/api/v1/runs/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200

    client.post(reverse("community:token_create"))
    assert not Token.objects.filter(key=token.key).exists()  # replaced: the old key stops working

    client.post(reverse("community:token_revoke"))
    assert not Token.objects.filter(user=alice).exists()


def test_token_views_need_csrf_and_login():
    alice = get_user_model().objects.create_user("alice", "alice@example.org", PASSWORD)
    anonymous = Client()
    assert anonymous.post(reverse("community:token_create"))["Location"].startswith(reverse("account_login"))
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(reverse("community:token_create")).status_code == 403
    assert not Token.objects.filter(user=alice).exists()


@override_settings(AXES_FAILURE_LIMIT=3)
def test_repeated_bad_passwords_lock_the_login_out():
    alice = get_user_model().objects.create_user("alice", "alice@example.org", PASSWORD)
    alice.emailaddress_set.create(email="alice@example.org", verified=True, primary=True)
    client = Client()
    for _ in range(2):
        response = log_in(client, password="wrong")
        assert response.status_code == 200 and "Too many failed logins" not in response.content.decode()
    locked = log_in(client, password="wrong")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode() and 'class="site-header"' in locked.content.decode()
    # The right password no longer gets in while locked out.
    after = log_in(client)
    assert after.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_createsuperuser_account_confirms_its_email_on_first_login():
    get_user_model().objects.create_superuser("root", "root@example.org", PASSWORD)
    response = log_in(Client(), "root")
    assert response["Location"] == reverse("account_email_verification_sent")
    client = Client()
    client.post(confirmation_link(mail.outbox[-1]))
    assert log_in(client, "root")["Location"] == reverse("community:profile")
