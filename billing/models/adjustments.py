"""Manual credit adjustments, maker-checker (L8)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class AdjustmentRequest(models.Model):
    """A staff request to add (positive) or remove (negative) credits, posted on approval.

    A second person holding `billing.approve_adjustmentrequest` approves it; the approval posts
    one `adjustment` transfer with the approver as actor. Requester and approver always differ
    (checked in the service and by a constraint).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="adjustment_requests",
        help_text="The customer whose credits change.",
    )
    amount = models.BigIntegerField(help_text="Credits: positive adds, negative removes.")
    reason = models.TextField()
    reference = models.CharField(max_length=200, help_text="Ticket or other reference.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    transfer = models.OneToOneField(
        "billing.Transfer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="adjustment_request",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("approve_adjustmentrequest", "Can approve or reject credit adjustment requests"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount=0),
                name="adjustmentrequest_nonzero",
                violation_error_message="The amount must not be zero.",
            ),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("requested_by")),
                name="adjustmentrequest_maker_is_not_checker",
            ),
            models.CheckConstraint(
                condition=Q(
                    status="pending",
                    approved_by__isnull=True,
                    rejected_by__isnull=True,
                    transfer__isnull=True,
                    decided_at__isnull=True,
                )
                | Q(
                    status="approved",
                    approved_by__isnull=False,
                    rejected_by__isnull=True,
                    transfer__isnull=False,
                    decided_at__isnull=False,
                )
                | Q(
                    status="rejected",
                    approved_by__isnull=True,
                    rejected_by__isnull=False,
                    transfer__isnull=True,
                    decided_at__isnull=False,
                ),
                name="adjustmentrequest_status_matches_decision",
            ),
        ]

    def __str__(self) -> str:
        return f"adjustment {self.amount:+d} for {self.user_id} ({self.status})"
