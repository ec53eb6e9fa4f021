"""The credit ledger: accounts and append-only transfers (TigerBeetle's model, at our scale).

A transfer moves an integer amount of credits from a debit account to a credit account, so every
row balances by construction (L1). Customer accounts are credit-normal and keep cached totals,
changed only by relative UPDATEs guarded by `available >= amount` (L2). Holds are two-phase:
a `pending` transfer is resolved at most once by a `post_pending` (capture, ≤ the held amount,
the rest released) or a `void_pending` (release or expiry) row that points at it (L6).
Rows are never updated or deleted (L4); PostgreSQL enforces that with a trigger.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

# Models of the other billing sub-domains live in sub-modules; importing them here registers
# them with the app and keeps `from billing.models import <Model>` working.
from billing.models.adjustments import AdjustmentRequest
from billing.models.budgets import KeyBudgetUsage
from billing.models.prices import Price
from billing.models.topups import CreditPack, StripeEvent, TopUp


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        SYSTEM = "system", "System"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_account",
    )
    code = models.CharField(max_length=32, null=True, blank=True, unique=True)
    allow_negative = models.BooleanField(default=False)
    # Set only by a forced debit (a clawback of a refunded or disputed top-up, S4) that took
    # more than the available credits; cleared by the first change that brings available back
    # to zero or more. It relaxes the non-negative constraint for this row alone; spends still
    # require available >= amount, so a negative balance blocks new spends.
    in_debt = models.BooleanField(default=False)
    # True while the account has an active usage alert (kept by the alert services in
    # billing.alerts). Ledger writes read it back from the row they update (RETURNING) and only
    # then enqueue an alert evaluation, so accounts without alerts pay nothing extra.
    alerts_enabled = models.BooleanField(default=False, db_default=False)
    # Cached totals, kept for customer accounts only. System accounts (grants, revenue, …) are
    # the other side of every customer transfer; caching them would serialise all customers on
    # one row, so their balances are summed from transfers when needed.
    debits_posted = models.BigIntegerField(default=0)
    credits_posted = models.BigIntegerField(default=0)
    debits_pending = models.BigIntegerField(default=0)
    credits_pending = models.BigIntegerField(default=0)
    # The customer's jobs that are queued or running (billing.services.job_holds): counted up
    # by the submit's hold statement, guarded on the cap there, and down when the job ends, so
    # the concurrency cap needs no lock held across statements.
    active_jobs = models.PositiveIntegerField(default=0, db_default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="customer", user__isnull=False, code__isnull=True))
                | Q(kind="system", user__isnull=True, code__isnull=False),
                name="ledgeraccount_owner_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(
                    debits_posted__gte=0,
                    credits_posted__gte=0,
                    debits_pending__gte=0,
                    credits_pending__gte=0,
                ),
                name="ledgeraccount_totals_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(allow_negative=True)
                | Q(in_debt=True)
                | Q(credits_posted__gte=F("debits_posted") + F("debits_pending")),
                name="ledgeraccount_debits_must_not_exceed_credits",
            ),
            models.CheckConstraint(
                condition=Q(in_debt=False) | Q(kind="customer"),
                name="ledgeraccount_only_customers_in_debt",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code}" if self.kind == self.Kind.SYSTEM else f"customer:{self.user_id}"

    @property
    def posted(self) -> int:
        return self.credits_posted - self.debits_posted

    @property
    def held(self) -> int:
        return self.debits_pending

    @property
    def available(self) -> int:
        return self.credits_posted - self.debits_posted - self.debits_pending


class Transfer(models.Model):
    class Kind(models.TextChoices):
        GRANT = "grant", "Grant"
        TOPUP = "topup", "Top-up"
        HOLD = "hold", "Hold"
        CAPTURE = "capture", "Capture"
        RELEASE = "release", "Release"
        EXPIRE = "expire", "Expiry"
        ADJUSTMENT = "adjustment", "Adjustment"
        CLAWBACK = "clawback", "Clawback"
        REINSTATE = "reinstate", "Reinstatement"

    class Phase(models.TextChoices):
        POSTED = "posted", "Posted"
        PENDING = "pending", "Pending"
        POST_PENDING = "post_pending", "Posts a pending transfer"
        VOID_PENDING = "void_pending", "Voids a pending transfer"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    debit_account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="debit_transfers"
    )
    credit_account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="credit_transfers"
    )
    amount = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    phase = models.CharField(max_length=16, choices=Phase.choices)
    pending = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="resolutions"
    )
    idempotency_key = models.CharField(max_length=200, unique=True)
    job_id = models.UUIDField(null=True, blank=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.TextField(blank=True)
    reference = models.CharField(max_length=200, blank=True)
    # Available credits of the customer account involved, right after this transfer.
    balance_after = models.BigIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Holds placed with an API key that has a budget: the usage row the hold was counted on,
    # given back when the hold (or its uncaptured rest) is released.
    budget_usage = models.ForeignKey(
        KeyBudgetUsage, null=True, blank=True, on_delete=models.PROTECT, related_name="holds"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("export_transfer", "Can export ledger transfers as CSV")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive"),
            models.CheckConstraint(
                condition=~Q(debit_account=F("credit_account")),
                name="transfer_accounts_differ",
            ),
            models.CheckConstraint(
                condition=(Q(phase__in=["post_pending", "void_pending"], pending__isnull=False))
                | (Q(phase__in=["posted", "pending"], pending__isnull=True)),
                name="transfer_pending_iff_resolving",
            ),
            # A pending transfer is resolved at most once (L6).
            models.UniqueConstraint(
                fields=["pending"],
                condition=Q(pending__isnull=False),
                name="transfer_resolves_pending_once",
            ),
        ]
        indexes = [
            models.Index(fields=["debit_account", "-created_at"], name="transfer_debit_idx"),
            models.Index(fields=["credit_account", "-created_at"], name="transfer_credit_idx"),
            models.Index(fields=["phase", "expires_at"], name="transfer_phase_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.phase})"


# ---------------------------------------------------------------------------------------------
# Usage alerts (billing.alerts)
# ---------------------------------------------------------------------------------------------


class UsageAlert(models.Model):
    """A customer's threshold on a usage metric, notified once per crossing.

    `available_below`: available credits < threshold. `used_today_above`: credits captured
    since local midnight (TIME_ZONE) > threshold. An armed alert whose
    metric crosses fires (armed → fired, one guarded UPDATE) and is re-armed only once the
    value is back on the other side; a daily alert fired on an earlier day counts as re-armed.
    """

    class Metric(models.TextChoices):
        AVAILABLE_BELOW = "available_below", "Available credits below"
        USED_TODAY_ABOVE = "used_today_above", "Credits used today above"
        # Per key (`api_key` set): percent of the key's budget used this period > threshold.
        KEY_BUDGET_USED_ABOVE = "key_budget_used_above", "Key budget used above (%)"

    class State(models.TextChoices):
        ARMED = "armed", "Armed"
        FIRED = "fired", "Fired"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_alerts"
    )
    metric = models.CharField(max_length=32, choices=Metric.choices)
    threshold = models.PositiveBigIntegerField()
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="usage_alerts",
        help_text="The key a key_budget_used_above alert watches.",
    )
    email = models.BooleanField(default=True, help_text="Notify the account's email address.")
    webhook = models.BooleanField(
        default=True, help_text="POST a signed event to the account callback URL (if set)."
    )
    active = models.BooleanField(default=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.ARMED)
    fired_at = models.DateTimeField(null=True, blank=True)
    fired_value = models.BigIntegerField(null=True, blank=True)
    # Local day (TIME_ZONE) of the last firing: a daily alert re-arms
    # when the day changes.
    fired_day = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(metric__in=["available_below", "used_today_above"])
                | Q(metric="key_budget_used_above", api_key__isnull=False),
                name="usagealert_metric_valid",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["armed", "fired"]), name="usagealert_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(email=True) | Q(webhook=True), name="usagealert_has_channel"
            ),
            models.UniqueConstraint(
                fields=["user", "metric", "threshold"],
                condition=Q(api_key__isnull=True),
                name="usagealert_unique_per_account",
            ),
            models.UniqueConstraint(
                fields=["api_key", "metric", "threshold"],
                condition=Q(api_key__isnull=False),
                name="usagealert_unique_per_key",
            ),
        ]
        indexes = [models.Index(fields=["user", "active"], name="usagealert_user_active_idx")]

    def __str__(self) -> str:
        return f"{self.metric} {self.threshold} ({self.state})"


__all__ = [
    "AdjustmentRequest",
    "CreditPack",
    "KeyBudgetUsage",
    "LedgerAccount",
    "Price",
    "StripeEvent",
    "TopUp",
    "Transfer",
    "UsageAlert",
]
