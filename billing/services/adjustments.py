"""Services for manual credit adjustments, maker-checker (L8).

One person requests (`adjustment_request_create`), a different person holding the permission
`billing.approve_adjustmentrequest` approves, which posts exactly one `adjustment` transfer with
the approver as actor and the request's reason and reference (`credits_adjust`). Rejection
posts nothing. Decisions are made under the request's row lock, so a request is decided once.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing import lock_objects
from billing.errors import AdjustmentRefused
from billing.models import AdjustmentRequest
from billing.services.ledger import credits_adjust

APPROVE_PERMISSION = "billing.approve_adjustmentrequest"


def adjustment_request_create(
    *, user: User, amount: int, reason: str, reference: str, requested_by: User
) -> AdjustmentRequest:
    """Record a pending request to add (amount > 0) or remove (amount < 0) credits.

    Nothing is posted until a second person approves. Raises ValueError for a zero amount or
    an empty reason or reference.
    """
    if amount == 0:
        raise ValueError("amount must not be zero")
    if not reason.strip():
        raise ValueError("a reason is required")
    if not reference.strip():
        raise ValueError("a reference (ticket) is required")
    return AdjustmentRequest.objects.create(
        user=user,
        amount=amount,
        reason=reason.strip(),
        reference=reference.strip(),
        requested_by=requested_by,
    )


def _lock_pending(adjustment_request: AdjustmentRequest) -> AdjustmentRequest:
    locked = lock_objects.adjustment_request_lock(adjustment_request_id=adjustment_request.pk)
    if locked.status != AdjustmentRequest.Status.PENDING:
        raise AdjustmentRefused(f"the request is already {locked.status}")
    return locked


def adjustment_request_approve(
    *, adjustment_request: AdjustmentRequest, approver: User
) -> AdjustmentRequest:
    """Approve a pending request and post its ledger adjustment (actor = approver).

    Refused (AdjustmentRefused, nothing written) when the approver is the requester, lacks
    `billing.approve_adjustmentrequest`, or the request was already decided. A removal larger
    than the customer's available credits raises InsufficientCredits and leaves it pending.
    Idempotency key of the transfer: `adjustment-request:<id>`.
    """
    with transaction.atomic():
        request = _lock_pending(adjustment_request)
        if approver.pk == request.requested_by_id:
            raise AdjustmentRefused("the requester cannot approve their own request")
        if not approver.has_perm(APPROVE_PERMISSION):
            raise AdjustmentRefused("approving needs the approve adjustment request permission")
        request.transfer = credits_adjust(
            user=request.user,
            amount=request.amount,
            actor=approver,
            reason=request.reason,
            reference=request.reference,
            idempotency_key=f"adjustment-request:{request.pk}",
        )
        request.status = AdjustmentRequest.Status.APPROVED
        request.approved_by = approver
        request.decided_at = timezone.now()
        request.save()
    return request


def adjustment_request_reject(
    *, adjustment_request: AdjustmentRequest, reviewer: User
) -> AdjustmentRequest:
    """Reject a pending request; nothing is posted.

    Needs `billing.approve_adjustmentrequest`, except that requesters may withdraw their own.
    """
    with transaction.atomic():
        request = _lock_pending(adjustment_request)
        if reviewer.pk != request.requested_by_id and not reviewer.has_perm(APPROVE_PERMISSION):
            raise AdjustmentRefused("rejecting needs the approve adjustment request permission")
        request.status = AdjustmentRequest.Status.REJECTED
        request.rejected_by = reviewer
        request.decided_at = timezone.now()
        request.save()
    return request
