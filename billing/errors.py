"""Errors raised by billing services; facades map them onto their own wire codes."""

from __future__ import annotations


class BillingError(Exception):
    pass


class InsufficientCredits(BillingError):
    def __init__(self, *, required: int, available: int) -> None:
        super().__init__(f"{required} credits required, {available} available")
        self.required = required
        self.available = available


class IdempotencyConflict(BillingError):
    """The idempotency key was already used for a different operation."""


class PriceNotFound(BillingError):
    pass


class PaymentsNotConfigured(BillingError):
    """Stripe is off: STRIPE_SECRET_KEY (or, for webhooks, STRIPE_WEBHOOK_SECRET) is not set."""


class PackUnavailable(BillingError):
    """The credit pack exists but is not sold any more."""


class AdjustmentRefused(BillingError):
    """An adjustment request cannot be decided as asked (maker-checker, permission, state)."""
