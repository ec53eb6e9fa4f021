"""Admin of manual credit adjustments (maker-checker): requests are created here and decided
by actions; a second person with `billing.approve_adjustmentrequest` approves. Registered in
billing/admin/__init__.py, which keeps the registration order (and so the admin URL order)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from accounts.typing import AuthenticatedHttpRequest
from billing.errors import AdjustmentRefused, InsufficientCredits
from billing.models import AdjustmentRequest
from billing.services import (
    adjustment_request_approve,
    adjustment_request_create,
    adjustment_request_reject,
)

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldGroups


class AdjustmentRequestForm(forms.ModelForm):
    class Meta:
        model = AdjustmentRequest
        fields = ("user", "amount", "reason", "reference")


class AdjustmentRequestAdmin(admin.ModelAdmin):
    """Requests are created here and decided by actions; never edited or deleted."""

    form = AdjustmentRequestForm
    list_display = (
        "created_at",
        "user",
        "amount",
        "status",
        "reference",
        "requested_by",
        "approved_by",
        "rejected_by",
        "decided_at",
        "transfer",
    )
    list_filter = ("status",)
    search_fields = ("user__email", "reference", "reason", "requested_by__email")
    date_hierarchy = "created_at"
    list_select_related = ("user", "requested_by", "approved_by", "rejected_by", "transfer")
    autocomplete_fields = ("user",)
    actions = ("approve_requests", "reject_requests")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> _FieldGroups:
        if obj is None:
            return ["user", "amount", "reason", "reference"]
        return [
            "user",
            "amount",
            "reason",
            "reference",
            "status",
            "requested_by",
            "approved_by",
            "rejected_by",
            "decided_at",
            "transfer",
            "created_at",
        ]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.approve_adjustmentrequest")

    def save_model(
        self, request: HttpRequest, obj: AdjustmentRequest, form: Any, change: bool
    ) -> None:
        if change:
            raise PermissionDenied
        created = adjustment_request_create(
            user=obj.user,
            amount=obj.amount,
            reason=obj.reason,
            reference=obj.reference,
            requested_by=cast(User, request.user),
        )
        obj.pk = created.pk
        obj.requested_by = created.requested_by
        obj.status = created.status
        obj.created_at = created.created_at
        obj._state.adding = False

    def _decide(
        self,
        request: HttpRequest,
        queryset: QuerySet[AdjustmentRequest],
        decide: Callable[[AdjustmentRequest], AdjustmentRequest],
        verb: str,
    ) -> None:
        done = 0
        for item in queryset.select_related("user"):
            try:
                decide(item)
            except (AdjustmentRefused, InsufficientCredits) as exc:
                self.message_user(request, f"{item}: not {verb}: {exc}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} request(s) {verb}.", messages.SUCCESS)

    @admin.action(
        description="Approve selected requests (posts the adjustments)", permissions=["approve"]
    )
    def approve_requests(
        self, request: AuthenticatedHttpRequest, queryset: QuerySet[AdjustmentRequest]
    ) -> None:
        self._decide(
            request,
            queryset,
            lambda item: adjustment_request_approve(adjustment_request=item, approver=request.user),
            "approved",
        )

    @admin.action(description="Reject selected requests", permissions=["approve"])
    def reject_requests(
        self, request: AuthenticatedHttpRequest, queryset: QuerySet[AdjustmentRequest]
    ) -> None:
        self._decide(
            request,
            queryset,
            lambda item: adjustment_request_reject(adjustment_request=item, reviewer=request.user),
            "rejected",
        )
