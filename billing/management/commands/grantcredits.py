from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from billing.selectors import balance_get
from billing.services import credits_grant


class Command(BaseCommand):
    help = "Grant credits to an existing user (a posted ledger entry with a reason)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--credits", type=int, required=True)
        parser.add_argument("--reason", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["credits"] <= 0:
            raise CommandError("--credits must be a positive integer")
        if not options["reason"].strip():
            raise CommandError("--reason must not be empty")
        user = User.objects.filter(email__iexact=options["email"].strip()).first()
        if user is None:
            raise CommandError(f"No user with email {options['email']}")
        credits_grant(
            user=user,
            amount=options["credits"],
            idempotency_key=f"grant:cli:{uuid.uuid4()}",
            reason=options["reason"],
        )
        balance = balance_get(user=user)
        self.stdout.write(
            f"Granted {options['credits']} credits to {user.email}; available {balance.available}"
        )
