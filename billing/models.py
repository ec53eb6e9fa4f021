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
    # Cached totals, kept for customer accounts only. System accounts (grants, revenue, …) are
    # the other side of every customer transfer; caching them would serialise all customers on
    # one row, so their balances are summed from transfers when needed.
    debits_posted = models.BigIntegerField(default=0)
    credits_posted = models.BigIntegerField(default=0)
    debits_pending = models.BigIntegerField(default=0)
    credits_pending = models.BigIntegerField(default=0)
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
                condition=Q(debits_posted__gte=0, credits_posted__gte=0, debits_pending__gte=0,
                            credits_pending__gte=0),
                name="ledgeraccount_totals_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(allow_negative=True)
                | Q(credits_posted__gte=F("debits_posted") + F("debits_pending")),
                name="ledgeraccount_debits_must_not_exceed_credits",
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
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.TextField(blank=True)
    reference = models.CharField(max_length=200, blank=True)
    # Available credits of the customer account involved, right after this transfer.
    balance_after = models.BigIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
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


class Price(models.Model):
    """A staff-editable price row; overrides BILLING_DEFAULT_PRICES for its combination.

    Price in credits = flat_credits + credits_per_second * seconds of output.
    """

    class Operation(models.TextChoices):
        GENERATE = "generate", "Generate"
        EXTEND = "extend", "Extend"
        UPGRADE_1080P = "upgrade_1080p", "1080p upgrade"
        UPGRADE_4K = "upgrade_4k", "4K upgrade"

    class Tier(models.TextChoices):
        QUALITY = "quality", "Quality"
        FAST = "fast", "Fast"
        LITE = "lite", "Lite"

    class Resolution(models.TextChoices):
        P720 = "720p", "720p"
        P1080 = "1080p", "1080p"
        K4 = "4k", "4K"

    operation = models.CharField(max_length=16, choices=Operation.choices)
    model_tier = models.CharField(max_length=16, choices=Tier.choices)
    resolution = models.CharField(max_length=8, choices=Resolution.choices)
    flat_credits = models.PositiveIntegerField(default=0)
    credits_per_second = models.PositiveIntegerField(default=0)
    active = models.BooleanField(
        default=True, help_text="Inactive rows make the combination unavailable."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["operation", "model_tier", "resolution"]
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "model_tier", "resolution"], name="price_unique_combination"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operation}/{self.model_tier}/{self.resolution}"
