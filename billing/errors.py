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
