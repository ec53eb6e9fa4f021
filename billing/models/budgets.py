"""Per-key credit budgets: one usage row per API key and budget period.

`used` counts the credits of the key's open holds and captures whose hold was placed in the
period. A hold increments it with a guarded UPDATE (`used + amount <= budget`) in the same
statement or transaction as the hold itself; releasing a hold (or the uncaptured rest of it)
gives back to the row the hold was counted on (`Transfer.budget_usage`). Every change happens
while the key's customer account row is locked, account row first (billing/lock_objects.py).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class KeyBudgetUsage(models.Model):
    api_key = models.ForeignKey(
        "accounts.ApiKey", on_delete=models.PROTECT, related_name="budget_usages"
    )
    period = models.CharField(max_length=16)
    # The instant the period starts (local midnight in TIME_ZONE; the
    # epoch for "lifetime").
    starts_at = models.DateTimeField()
    used = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "period", "starts_at"], name="keybudgetusage_one_per_period"
            ),
            models.CheckConstraint(condition=Q(used__gte=0), name="keybudgetusage_used_gte_0"),
        ]

    def __str__(self) -> str:
        return f"key {self.api_key_id} {self.period} from {self.starts_at:%Y-%m-%d}: {self.used}"
