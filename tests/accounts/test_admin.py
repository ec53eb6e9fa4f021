from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import ApiKey
from accounts.selectors import api_key_authenticate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def test_admin_creates_key_and_shows_raw_token_once(admin_client) -> None:
    owner = UserFactory()
    response = admin_client.post(
        reverse("admin:accounts_apikey_add"), {"user": owner.pk, "name": "ops"}, follow=True
    )
    assert response.status_code == 200
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    token = next(m.split(": ")[-1] for m in shown if "copy it now" in m)
    assert api_key_authenticate(token=token).user == owner
    key = ApiKey.objects.get(user=owner)
    change_page = admin_client.get(reverse("admin:accounts_apikey_change", args=[key.pk]))
    assert token not in change_page.content.decode()
    assert (
        token[len(key.prefix) :]
        not in admin_client.get(reverse("admin:accounts_apikey_changelist")).content.decode()
    )


def test_admin_revoke_action(admin_client, api_key) -> None:
    admin_client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [api_key.api_key.pk]},
    )
    assert ApiKey.objects.get(pk=api_key.api_key.pk).revoked_at is not None


def test_ledger_admin_is_read_only(admin_client) -> None:
    from billing.models import Transfer
    from billing.services import credits_grant

    transfer = credits_grant(user=UserFactory(), amount=5, idempotency_key="admin:ro")
    assert admin_client.get(reverse("admin:billing_transfer_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:billing_transfer_add")).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:billing_transfer_delete", args=[transfer.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert Transfer.objects.filter(pk=transfer.pk).exists()
    page = admin_client.get(reverse("admin:billing_ledgeraccount_changelist"))
    assert page.status_code == 200


def test_prices_are_editable_in_admin(admin_client) -> None:
    from billing.services import price_quote

    response = admin_client.post(
        reverse("admin:billing_price_add"),
        {
            "operation": "generate",
            "model_tier": "fast",
            "resolution": "720p",
            "audio": "on",  # the price of videos with sound (the checkbox is ticked by default)
            "flat_credits": 1,
            "credits_per_second": 1,
            "active": "on",
        },
    )
    assert response.status_code == 302
    assert (
        price_quote(operation="generate", model_tier="fast", resolution="720p", seconds=8).credits
        == 9
    )
