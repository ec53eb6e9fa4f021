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


class KeyBudgetExceeded(InsufficientCredits):
    """The API key's credit budget for its period cannot cover the hold.

    A kind of InsufficientCredits (facades answer it like one, 402), whose `available` is what
    is left of the key's budget and whose text names the budget.
    """

    def __init__(
        self, *, required: int, available: int, budget: int, period: str, key_name: str
    ) -> None:
        super().__init__(required=required, available=available)
        self.budget, self.period, self.key_name = budget, period, key_name
        per = "in total" if period == "lifetime" else f"per {period}"
        self.args = (
            f"API key budget exceeded: key {key_name!r} may spend {budget} credits {per}; "
            f"{required} required, {max(available, 0)} left",
        )


class ActiveJobsLimited(BillingError):
    """The account already has `limit` jobs queued or running (LedgerAccount.active_jobs)."""

    def __init__(self, *, limit: int) -> None:
        super().__init__(f"at most {limit} jobs at once")
        self.limit = limit
