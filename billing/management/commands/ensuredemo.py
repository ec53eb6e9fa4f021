from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.selectors import ApiKeyInvalid, api_key_authenticate
from accounts.services import api_key_create, user_get_or_create
from billing.selectors import balance_get
from billing.services import credits_grant


class Command(BaseCommand):
    help = (
        "Ensure the local demo user exists with credits and a working API key (kept in "
        "var/demo_api_key, local use only). Prints the key alone on the last line."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        key_file = Path(settings.VAR_DIR) / "demo_api_key"
        with transaction.atomic():
            user, _ = user_get_or_create(email=settings.ACCOUNTS_DEMO_EMAIL)
            credits_grant(
                user=user,
                amount=settings.ACCOUNTS_DEMO_CREDITS,
                idempotency_key=f"grant:demo:{user.pk}",
                reason="demo credits",
            )
            token = key_file.read_text().strip() if key_file.exists() else ""
            try:
                if api_key_authenticate(token=token).user_id != user.pk:
                    raise ApiKeyInvalid("belongs to another user")
            except ApiKeyInvalid:
                token = api_key_create(user=user, name="demo").token
                key_file.write_text(token)
                key_file.chmod(0o600)
        balance = balance_get(user=user)
        self.stdout.write(f"Demo user {user.email}: {balance.available} credits available")
        self.stdout.write(token)
