"""Sign-up, log-in throttling, password change and reset, settings."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import User
from tests.conftest import PASSWORD
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
GOOD_SIGNUP = {
    "username": "charlie",
    "email": "charlie@example.org",
    "password1": "a long enough passphrase",
    "password2": "a long enough passphrase",
    "weekly_digest": "on",
}


def test_sign_up_creates_the_account_and_logs_in(client):
    response = client.post(reverse("signup"), GOOD_SIGNUP)
    assert response.status_code == 302
    charlie = User.objects.get(username="charlie")
    assert charlie.email == "charlie@example.org" and charlie.weekly_digest
    assert charlie.check_password("a long enough passphrase")
    assert client.get(reverse("settings")).status_code == 200


def test_sign_up_without_the_digest_box_leaves_it_off(client):
    client.post(reverse("signup"), {**GOOD_SIGNUP, "weekly_digest": ""})
    assert not User.objects.get(username="charlie").weekly_digest


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"username": "ALICE"}, "That user name is taken."),
        ({"email": "Alice@Example.org"}, "An account with this email address already exists."),
        ({"password2": "something else entirely"}, "didn’t match"),
        ({"password1": "123", "password2": "123"}, "too short"),
        ({"email": "not-an-email"}, "valid email"),
    ],
)
def test_bad_sign_up_gets_400_with_a_message(client, alice, change, message):
    response = client.post(reverse("signup"), {**GOOD_SIGNUP, **change})
    assert response.status_code == 400
    assert message in response.text
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]


def test_log_in_and_log_out(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("library")).status_code == 200
    assert client.get(reverse("logout")).status_code == 405  # logging out is a POST
    client.post(reverse("logout"))
    assert client.get(reverse("library")).status_code == 302


def test_a_locked_account_is_locked_from_every_address(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        response = client.post(reverse("login"), {"username": "alice", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")
    assert response.status_code == 429
    locked = client.post(reverse("login"), {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1")
    assert locked.status_code == 429 and "Too many failed log-in attempts" in locked.text
    assert "(for 15 minutes)" in locked.text and "PT15M" not in locked.text
    # The right password from a second address does not get in either; another account from the first address does.
    assert client.post(reverse("login"), {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.0.2").status_code == 429
    UserFactory(username="bob")
    assert client.post(reverse("login"), {"username": "bob", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1").status_code == 302


def test_failures_spread_over_many_accounts_lock_the_address(client, settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 20
    readers = [UserFactory(username=f"reader{n}") for n in range(11)]
    codes = [
        client.post(reverse("login"), {"username": reader.username, "password": f"guess {n}"}, REMOTE_ADDR="10.0.0.7").status_code
        for reader in readers
        for n in range(4)
    ]
    assert codes[:19] == [200] * 19 and set(codes[19:]) == {429}  # 44 guesses, 4 per account: the 20th locks the address
    here = client.post(reverse("login"), {"username": "reader1", "password": PASSWORD}, REMOTE_ADDR="10.0.0.7")
    assert here.status_code == 429 and "Too many failed log-in attempts" in here.text
    elsewhere = client.post(reverse("login"), {"username": "reader0", "password": PASSWORD}, REMOTE_ADDR="10.0.0.8")
    assert elsewhere.status_code == 302  # the accounts themselves are not locked


def test_behind_a_proxy_the_forwarded_address_is_throttled(client, alice, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 2
    settings.BEHIND_PROXY = True
    UserFactory(username="bob")
    for name in ("bob", "carol"):
        client.post(reverse("login"), {"username": name, "password": "wrong"}, REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="203.0.113.5")
    other_reader = client.post(
        reverse("login"), {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.7"
    )
    assert other_reader.status_code == 302
    client.post(reverse("logout"))
    locked = client.post(
        reverse("login"), {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="x, 203.0.113.5"
    )
    assert locked.status_code == 429
    # Not an address: ignored, the proxy's own address counts (nothing unreadable reaches the lock-out table).
    made_up = client.post(
        reverse("login"), {"username": "bob", "password": "wrong"}, REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="not-an-ip"
    )
    assert made_up.status_code == 200
    from axes.models import AccessAttempt

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5", "10.9.9.9"}


def test_password_reset_emails_are_limited_per_email_address_and_per_client_address(client, alice, bob, settings):
    settings.PASSWORD_RESET_EMAIL_LIMIT = 3
    settings.PASSWORD_RESET_ADDRESS_LIMIT = 5
    codes = [client.post(reverse("password_reset"), {"email": "alice@example.org"}).status_code for _ in range(8)]
    assert codes == [302] * 3 + [429] * 5 and len(mail.outbox) == 3
    refused = client.post(reverse("password_reset"), {"email": "ALICE@example.org"}, REMOTE_ADDR="10.1.1.1")
    assert refused.status_code == 429 and "no email was sent" in refused.text and int(refused["Retry-After"]) > 0
    assert client.post(reverse("password_reset"), {"email": "bob@example.org"}, REMOTE_ADDR="10.1.1.1").status_code == 302
    # From the first address, eight requests are already past its limit of five, whatever the email address.
    assert client.post(reverse("password_reset"), {"email": "bob@example.org"}).status_code == 429
    assert len(mail.outbox) == 4


def test_a_password_reset_lifts_the_lockout(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert client.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code == 429
    client.post(reverse("password_reset"), {"email": "alice@example.org"})
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    new = "a brand new passphrase"
    client.post(form_url, {"new_password1": new, "new_password2": new})
    assert client.post(reverse("login"), {"username": "alice", "password": new}).status_code == 302


def test_password_change(client, alice):
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    new = "another long passphrase"
    response = client.post(reverse("password_change"), {"old_password": PASSWORD, "new_password1": new, "new_password2": new})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(new)


def test_password_reset_by_email(client, alice, settings):
    response = client.post(reverse("password_reset"), {"email": "alice@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.org"]
    assert mail.outbox[0].subject == "Reset your Paperfeed password"
    assert f"{settings.SITE_URL}/accounts/reset/" in mail.outbox[0].body  # SITE_URL (a developer's .env may set it), not the Host
    assert "testserver" not in mail.outbox[0].body
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    new = "a brand new passphrase"
    client.post(form_url, {"new_password1": new, "new_password2": new})
    alice.refresh_from_db()
    assert alice.check_password(new)


def test_password_reset_for_an_unknown_address_sends_nothing_but_says_the_same(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"}, follow=True)
    assert "If an account uses that address" in response.text
    assert mail.outbox == []


def test_settings_turn_the_weekly_email_on_and_off(client, alice):
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    client.post(reverse("settings"), {"weekly_digest": "on"})
    alice.refresh_from_db()
    assert alice.weekly_digest
    response = client.post(reverse("settings"), {}, follow=True)
    alice.refresh_from_db()
    assert not alice.weekly_digest and "the weekly email is off" in response.text


def test_user_names_are_unique_regardless_of_case(alice):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="ALICE")


def test_settings_need_a_login(client):
    response = client.get(reverse("settings"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db(transaction=True)
def test_parallel_sign_ups_of_one_name_create_one_account_and_tell_the_rest_it_is_taken():
    from django.test import Client

    from tests.concurrency import together

    def sign_up(n: int):
        def post():
            response = Client().post(reverse("signup"), {**GOOD_SIGNUP, "email": f"charlie{n}@example.org"})
            return response.status_code, "That user name is taken." in response.text

        return post

    results = together([sign_up(n) for n in range(20)])
    assert sorted(code for code, _ in results) == [302] + [400] * 19
    assert all(taken for code, taken in results if code == 400)
    assert User.objects.filter(username__iexact="charlie").count() == 1
