from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from outbound.services import webhook_secret_get_or_create, webhook_secret_rotate


class Command(BaseCommand):
    help = (
        "Print the callback signing secret of an account (creating it on first use), or "
        "replace it with --rotate. The secret is printed alone on the last line of stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument(
            "--rotate", action="store_true", help="Replace the secret with a new one first."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"].strip()
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with email {email}")
        if options["rotate"]:
            secret = webhook_secret_rotate(user=user)
            self.stdout.write(f"Rotated the webhook secret of {user.email}")
        else:
            secret = webhook_secret_get_or_create(user=user)
            self.stdout.write(f"Webhook secret of {user.email}")
        self.stdout.write(secret)
