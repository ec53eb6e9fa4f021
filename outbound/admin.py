"""Staff view of everything sent to customers: a read-only log with one action, re-send."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from outbound.models import Attempt, Delivery
from outbound.services import delivery_resend


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = (
        "number",
        "manual",
        "outcome",
        "sent_at",
        "status_code",
        "latency_ms",
        "error",
        "blocked_reason",
        "response_excerpt",
        "request_headers",
        "request_id",
    )
    readonly_fields = fields
    ordering = ("number",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Read-only log; the one action re-sends (a new attempt, same webhook-id)."""

    list_display = (
        "webhook_id",
        "topic",
        "channel",
        "user",
        "destination",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    )
    list_filter = (
        "topic",
        "channel",
        "status",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = (
        "webhook_id",
        "destination",
        "signing_id",
        "reference",
        "user__email",
        "request_id",
    )
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    actions = ("resend",)
    inlines = (AttemptInline,)
    fields = (
        "webhook_id",
        "topic",
        "channel",
        "user",
        "reference",
        "request_id",
        "signing_id",
        "destination",
        "email_subject",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
        "payload",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("outbound.resend_delivery")

    @admin.action(description="Re-send the selected deliveries", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        for delivery_id in ids:
            delivery_resend(delivery_id=delivery_id)
        # Worded as it always was for job callbacks (staff runbooks quote it).
        self.message_user(
            request,
            f"Queued {len(ids)} callback(s) for re-sending; each attempt appears in its log.",
            messages.SUCCESS,
        )
