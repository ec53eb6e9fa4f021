"""Stripe top-ups: the credit packs on sale, each checkout's TopUp and the webhook events."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class CreditPack(models.Model):
    """A staff-editable pack of credits sold through Stripe Checkout.

    `price` is in integer minor units of `currency` (cents for usd). A top-up copies credits,
    price and currency when it starts, so later edits never change a purchase in flight.
    """

    name = models.CharField(max_length=100)
    credits = models.PositiveBigIntegerField()
    price = models.PositiveIntegerField(help_text="In minor units of the currency (e.g. cents).")
    currency = models.CharField(
        max_length=3, default="usd", help_text="ISO 4217 code, lowercase (usd, eur, …)."
    )
    active = models.BooleanField(default=True, help_text="Inactive packs cannot be bought.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["price", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(credits__gt=0), name="creditpack_credits_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="creditpack_price_positive"),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[a-z]{3}$"), name="creditpack_currency_iso"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.credits} credits, {self.price} {self.currency})"


class TopUp(models.Model):
    """One purchase attempt of a credit pack: one Stripe Checkout Session, at most one grant.

    Credits are granted once, by `billing.services.topup_fulfil`, keyed by the Checkout Session id
    (S1). Refunds and disputes are mirrored as state (cumulative refunded amount, dispute
    status) and the ledger is brought to the clawback that state implies (S4).
    """

    class Status(models.TextChoices):
        CREATED = "created", "Created"  # row written, Checkout Session not created yet
        OPEN = "open", "Awaiting checkout"
        PROCESSING = "processing", "Payment processing"  # delayed payment method
        PAID = "paid", "Paid"  # credits granted
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="topups"
    )
    pack = models.ForeignKey(CreditPack, on_delete=models.PROTECT, related_name="topups")
    credits = models.PositiveBigIntegerField()
    amount = models.PositiveIntegerField(help_text="Price in minor units of the currency.")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    stripe_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True, db_index=True)
    checkout_url = models.TextField(blank=True)
    grant = models.OneToOneField(
        "billing.Transfer", null=True, blank=True, on_delete=models.PROTECT, related_name="topup"
    )
    # Mirrors of Stripe state; they only move forward (see billing/services/topups.py).
    amount_refunded = models.PositiveBigIntegerField(default=0)
    dispute_id = models.CharField(max_length=255, blank=True)
    dispute_status = models.CharField(max_length=32, blank=True)
    dispute_amount = models.PositiveBigIntegerField(default=0)
    # Net credits taken back so far (clawbacks minus reinstatements), kept with the ledger entries.
    credits_clawed_back = models.PositiveBigIntegerField(default=0)
    # How many clawback/reinstatement transfers were posted; numbers their idempotency keys.
    clawback_entries = models.PositiveIntegerField(default=0)
    failure_reason = models.CharField(max_length=255, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("export_topup", "Can export top-ups as CSV")]
        constraints = [
            models.CheckConstraint(condition=Q(credits__gt=0), name="topup_credits_positive"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="topup_amount_positive"),
            models.CheckConstraint(
                condition=Q(status="paid", grant__isnull=False, paid_at__isnull=False)
                | (~Q(status="paid") & Q(grant__isnull=True)),
                name="topup_paid_iff_granted",
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__lte=F("amount")), name="topup_refund_within_amount"
            ),
            models.CheckConstraint(
                condition=Q(credits_clawed_back__lte=F("credits")),
                name="topup_clawback_within_credits",
            ),
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="topup_user_idx")]

    def __str__(self) -> str:
        return f"top-up {self.uid} ({self.credits} credits, {self.status})"


class StripeEvent(models.Model):
    """A verified Stripe webhook event, stored once per Stripe event id (duplicates are dropped).

    Written in the same transaction as its effects, so a failed handler leaves no row and
    Stripe's retry processes the event again.
    """

    class Outcome(models.TextChoices):
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    livemode = models.BooleanField(default=False)
    api_version = models.CharField(max_length=64, blank=True)
    stripe_created_at = models.DateTimeField(null=True, blank=True)
    body = models.TextField(help_text="The raw request body, exactly as signed.")
    payload = models.JSONField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    note = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
