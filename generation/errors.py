"""The refusal vocabulary of generation: why a submit (or upgrade) was not accepted.

Every refusal derives from `SubmitRefused` and carries what a facade needs to answer in its
own wire format: `message` (the text shown to the customer), and where it applies `field`,
`limit` and `retry_after`. Raising one means nothing was written. Billing's
`InsufficientCredits` stays in billing/errors.py; facades map it through the same error
table (generation/facades/base.py).
"""

from __future__ import annotations

from generation.ratelimit import RateDecision


class SubmitRefused(Exception):
    """Base of every refusal of a submit; `str(exc)` is the customer-facing text."""

    message: str = ""
    field: str | None = None
    limit: int | None = None
    retry_after: int | None = None


class JobValidationError(SubmitRefused):
    """A request input is invalid; `field` uses the internal (veo3api) field names."""

    field: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class KeyLimitRefused(JobValidationError):
    """The request asks for more than the API key allows (model, resolution, seconds).

    A validation error naming the field, so each facade answers it like bad input to that
    field; raised before anything is held."""


class RateLimited(SubmitRefused):
    """Too many submits in the sliding window; retry after `retry_after` seconds.
    `per_key`: the API key's own limit (ApiKey.rate_limit_per_minute) rather than the account's.
    """

    def __init__(self, decision: RateDecision, *, per_key: bool = False) -> None:
        super().__init__("rate limit exceeded")
        self.message = "rate limit exceeded"
        self.per_key = per_key
        self.decision = decision
        self.limit = decision.limit
        self.retry_after = decision.retry_after


class LimitsUnavailable(SubmitRefused):
    """The rate limit cannot be checked (the shared cache is unreachable): refused, fail closed,
    so an outage never lets unlimited submits through. Retry after `retry_after` seconds."""

    def __init__(self) -> None:
        self.message = "service temporarily unavailable: limits cannot be checked, retry shortly"
        super().__init__(self.message)
        self.retry_after = 5


class ConcurrencyLimited(SubmitRefused):
    """The account (or, with `per_key`, the API key) already has `limit` jobs queued or
    running."""

    def __init__(self, limit: int, *, per_key: bool = False) -> None:
        who = "this API key" if per_key else "the account"
        self.message = f"at most {limit} jobs of {who} may be queued or running at once"
        super().__init__(self.message)
        self.limit = limit
        self.per_key = per_key
        self.retry_after = 10


class IdempotencyKeyReused(SubmitRefused):
    """The Idempotency-Key was already used with a different request body."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DailyLimitReached(SubmitRefused):
    """The account's jobs-per-day limit (`limit`) is used up."""

    def __init__(self, limit: int) -> None:
        self.message = f"daily limit of {limit} jobs reached"
        super().__init__(self.message)
        self.limit = limit


class UpgradeRefused(SubmitRefused):
    """The source task cannot be upgraded or extended.

    `reason`: "not_succeeded" | "expired" | "not_eligible"; `field` names the request input.
    """

    field: str

    def __init__(self, reason: str, field: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field
        self.message = message


class InputImageError(Exception):
    """A job's input image cannot be loaded when it runs (not a refusal: the job fails)."""


# Failure codes and texts of ended jobs: kie / veo3api error codes, also used for every
# facade's error text (contracts §3, §6).
CODE_CONTENT = 400
CODE_INTERNAL = 500
CODE_GENERATION_FAILED = 501
MSG_INTERNAL = "Internal Error, Please try again later."
# What a cancelled job says (every facade shows it; kie in its failure fields).
CANCEL_MESSAGE = "Cancelled by the customer."
MSG_IMAGE_FETCH = (
    "Failed to fetch the image. Kindly verify any access limits set by you or your service "
    "provider."
)
