"""Write paths of billing, by sub-domain: `ledger` (accounts, posted transfers, the signup
grant), `holds` (reserve, capture, release), `pricing` (the price quote), `topups` and
`topup_refunds` (Stripe), `adjustments` (staff adjustments, maker-checker). Row locks and their
order are in billing/lock_objects.py.

The names below are re-exported so that `from billing.services import <name>` keeps working
for every caller; new code may import from the sub-module as well.
"""

from billing.services.adjustments import (
    APPROVE_PERMISSION,
    adjustment_request_approve,
    adjustment_request_create,
    adjustment_request_reject,
)
from billing.services.budgets import KeyBudget, key_budget_open
from billing.services.holds import (
    Resolution,
    credits_capture,
    credits_hold,
    credits_release,
    holds_expire_stale,
)
from billing.services.job_holds import (
    JobHoldRefused,
    account_active_job_end,
    job_hold,
    job_hold_refusal,
    transfer_id_next,
)
from billing.services.ledger import (
    SYSTEM_ADJUSTMENTS,
    SYSTEM_CLAWBACKS,
    SYSTEM_GRANTS,
    SYSTEM_REVENUE,
    SYSTEM_TOPUPS,
    account_lock,
    alerts_evaluate_on_commit,
    credits_adjust,
    credits_clawback,
    credits_debit,
    credits_grant,
    ledger_account_for_user,
    signup_grant,
    system_account,
)
from billing.services.pricing import PriceLine, Quote, price_quote, price_rate, price_table
from billing.services.topup_refunds import (
    topup_clawback_target,
    topup_dispute_sync,
    topup_refund_sync,
)
from billing.services.topups import (
    CheckoutStart,
    EventResult,
    stripe_event_process,
    topup_checkout_create,
    topup_fulfil,
    topup_fulfil_from_stripe,
    topup_payment_fail,
)

__all__ = [
    "APPROVE_PERMISSION",
    "SYSTEM_ADJUSTMENTS",
    "SYSTEM_CLAWBACKS",
    "SYSTEM_GRANTS",
    "SYSTEM_REVENUE",
    "SYSTEM_TOPUPS",
    "CheckoutStart",
    "EventResult",
    "JobHoldRefused",
    "KeyBudget",
    "PriceLine",
    "Quote",
    "Resolution",
    "account_active_job_end",
    "account_lock",
    "adjustment_request_approve",
    "adjustment_request_create",
    "adjustment_request_reject",
    "alerts_evaluate_on_commit",
    "credits_adjust",
    "credits_capture",
    "credits_clawback",
    "credits_debit",
    "credits_grant",
    "credits_hold",
    "credits_release",
    "holds_expire_stale",
    "job_hold",
    "job_hold_refusal",
    "key_budget_open",
    "ledger_account_for_user",
    "price_quote",
    "price_rate",
    "price_table",
    "signup_grant",
    "stripe_event_process",
    "system_account",
    "topup_checkout_create",
    "topup_clawback_target",
    "topup_dispute_sync",
    "topup_fulfil",
    "topup_fulfil_from_stripe",
    "topup_payment_fail",
    "topup_refund_sync",
    "transfer_id_next",
]
