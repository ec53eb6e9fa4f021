from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from billing.selectors import ledger_inconsistencies


class Command(BaseCommand):
    help = "Recompute customer balances from the ledger and fail on any drift."

    def handle(self, *args: Any, **options: Any) -> None:
        problems = ledger_inconsistencies()
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} ledger inconsistencies")
        self.stdout.write("ledger consistent")
