"""Webhook signing secrets (outbound/services.py) and the `webhooksecret` command."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from outbound.services import webhook_secret_get_or_create
from tests.factories import UserFactory


@pytest.fixture
def funded_user(db: None) -> Any:
    return UserFactory()


def test_webhooksecret_command_prints_and_rotates(funded_user) -> None:
    out = StringIO()
    call_command("webhooksecret", "--email", funded_user.email.upper(), stdout=out)
    first = out.getvalue().strip().splitlines()[-1]
    assert first == webhook_secret_get_or_create(user=funded_user)
    out = StringIO()
    call_command("webhooksecret", "--email", funded_user.email, "--rotate", stdout=out)
    rotated = out.getvalue().strip().splitlines()[-1]
    assert rotated != first and rotated.startswith("whsec_")
    funded_user.refresh_from_db()
    assert funded_user.webhook_secret == rotated
