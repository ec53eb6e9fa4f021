from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiKey, User
from accounts.selectors import api_key_authenticate
from billing.selectors import balance_get


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip().splitlines()


@pytest.mark.django_db
def test_createapikey_creates_user_grants_credits_and_prints_key_last() -> None:
    lines = run("createapikey", "--email", "New@Example.com", "--credits", "250", "--name", "ci")
    token = lines[-1]
    api_key = api_key_authenticate(token=token)
    assert api_key.user.email == "new@example.com"
    assert api_key.name == "ci"
    assert balance_get(user=api_key.user).available == 250


@pytest.mark.django_db
def test_createapikey_for_existing_user_adds_a_second_key() -> None:
    first = run("createapikey", "--email", "a@example.com")[-1]
    second = run("createapikey", "--email", "a@example.com", "--credits", "5")[-1]
    assert first != second
    assert User.objects.filter(email="a@example.com").count() == 1
    assert ApiKey.objects.filter(user__email="a@example.com").count() == 2
    assert balance_get(user=User.objects.get(email="a@example.com")).available == 5


@pytest.mark.django_db
def test_createapikey_rejects_bad_email() -> None:
    with pytest.raises(CommandError):
        run("createapikey", "--email", "not-an-email")
    assert not User.objects.exists()


@pytest.mark.django_db
def test_grantcredits_adds_a_ledger_entry_with_reason() -> None:
    token = run("createapikey", "--email", "g@example.com")[-1]
    run("grantcredits", "--email", "g@example.com", "--credits", "40", "--reason", "promo")
    user = api_key_authenticate(token=token).user
    assert balance_get(user=user).available == 40
    assert user.ledger_account.credit_transfers.get().reason == "promo"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        ["--email", "nobody@example.com", "--credits", "5", "--reason", "x"],
        ["--email", "g@example.com", "--credits", "0", "--reason", "x"],
        ["--email", "g@example.com", "--credits", "5", "--reason", " "],
    ],
)
def test_grantcredits_refuses_bad_input(args: list[str]) -> None:
    run("createapikey", "--email", "g@example.com")
    with pytest.raises(CommandError):
        run("grantcredits", *args)
    assert balance_get(user=User.objects.get(email="g@example.com")).available == 0


@pytest.mark.django_db
def test_ensuredemo_is_stable_across_runs(settings, tmp_path) -> None:
    settings.VAR_DIR = tmp_path
    first = run("ensuredemo")[-1]
    second = run("ensuredemo")[-1]
    assert first == second
    user = api_key_authenticate(token=first).user
    assert balance_get(user=user).available == settings.ACCOUNTS_DEMO_CREDITS
