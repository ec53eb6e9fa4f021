from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import transaction

from accounts.services import api_key_create, user_get_or_create
from billing.services import credits_grant


class Command(BaseCommand):
    help = (
        "Create an API key for a user (creating the user if needed), optionally granting "
        "credits. The raw key is printed alone on the last line of stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--credits", type=int, default=0)
        parser.add_argument("--name", default="default")

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"].strip()
        try:
            validate_email(email)
        except Exception as exc:
            raise CommandError(f"Invalid email: {email}") from exc
        if options["credits"] < 0:
            raise CommandError("--credits must not be negative")
        with transaction.atomic():
            user, created = user_get_or_create(email=email)
            if options["credits"]:
                credits_grant(
                    user=user,
                    amount=options["credits"],
                    idempotency_key=f"grant:createapikey:{uuid.uuid4()}",
                    reason="createapikey",
                )
            key = api_key_create(user=user, name=options["name"])
        self.stdout.write(
            f"{'Created' if created else 'Found'} user {user.email}; "
            f"API key {key.api_key.prefix}… named {key.api_key.name!r}"
        )
        self.stdout.write(key.token)
