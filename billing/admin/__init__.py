"""Finance-facing admin.

The ledger, top-ups and Stripe events are read-only (no add, change or delete for anyone);
prices and credit packs are editable; manual credit changes go through adjustment requests
(maker-checker: a second person with `billing.approve_adjustmentrequest` approves). Ledger
transfers and top-ups export as streaming CSV (permissions `export_transfer`, `export_topup`).
A daily summary of revenue and credits lives at /admin/billing/topup/summary/.

Who gets what is set by migration 0004 (groups "Finance" and "Finance approvers").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import urlencode

from billing.admin.adjustments import AdjustmentRequestAdmin
from billing.admin.summary import finance_chart, finance_totals
from billing.models import (
    AdjustmentRequest,
    CreditPack,
    LedgerAccount,
    Price,
    StripeEvent,
    TopUp,
    Transfer,
    UsageAlert,
)
from billing.selectors import finance_daily_summary
from billing.services import price_table
from veosaas.http import csv_stream


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _stamp() -> str:
    return timezone.now().strftime("%Y%m%d-%H%M%S")


# ---------------------------------------------------------------------------------------------
# Ledger
# ---------------------------------------------------------------------------------------------


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "kind",
        "user",
        "posted_credits",
        "held_credits",
        "available_credits",
        "in_debt",
        "created_at",
    )
    list_filter = ("kind", "in_debt")
    search_fields = ("user__email", "code")
    list_select_related = ("user",)
    date_hierarchy = "created_at"

    @admin.display(description="posted")
    def posted_credits(self, obj: LedgerAccount) -> int | str:
        return obj.posted if obj.kind == LedgerAccount.Kind.CUSTOMER else "—"

    @admin.display(description="held")
    def held_credits(self, obj: LedgerAccount) -> int | str:
        return obj.held if obj.kind == LedgerAccount.Kind.CUSTOMER else "—"

    @admin.display(description="available")
    def available_credits(self, obj: LedgerAccount) -> int | str:
        return obj.available if obj.kind == LedgerAccount.Kind.CUSTOMER else "—"


TRANSFER_CSV_HEADER = [
    "created_at",
    "uid",
    "kind",
    "phase",
    "amount",
    "debit_account",
    "credit_account",
    "customer_email",
    "balance_after",
    "job_id",
    "actor",
    "reason",
    "reference",
    "idempotency_key",
]


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    # Money next to the kind, text last: at 1440 px the amounts never fall off the edge.
    class Media:
        css = {"all": ("admin-extra.css",)}

    list_display = (
        "created_at",
        "kind",
        "phase",
        "amount",
        "balance_after",
        "debit_account",
        "credit_account",
        "job_id",
        "actor",
        "reason",
    )
    list_filter = ("kind", "phase")
    search_fields = (
        "idempotency_key",
        "job_id",
        "reference",
        "debit_account__user__email",
        "credit_account__user__email",
    )
    date_hierarchy = "created_at"
    list_select_related = ("debit_account__user", "credit_account__user", "actor")
    actions = ("export_csv",)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.export_transfer")

    @admin.action(description="Export selected transfers as CSV", permissions=["export"])
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[Transfer]
    ) -> StreamingHttpResponse:
        queryset = queryset.select_related(
            "debit_account__user", "credit_account__user", "actor"
        ).order_by("created_at", "id")

        def rows() -> Iterator[list[object]]:
            for t in queryset.iterator(chunk_size=2000):
                customer = t.debit_account.user or t.credit_account.user
                yield [
                    t.created_at,
                    t.uid,
                    t.kind,
                    t.phase,
                    t.amount,
                    str(t.debit_account),
                    str(t.credit_account),
                    customer.email if customer else "",
                    t.balance_after,
                    t.job_id,
                    t.actor.email if t.actor else "",
                    t.reason,
                    t.reference,
                    t.idempotency_key,
                ]

        return csv_stream(
            filename=f"transfers-{_stamp()}.csv", header=TRANSFER_CSV_HEADER, rows=rows()
        )


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = (
        "operation",
        "model_tier",
        "resolution",
        "audio",
        "flat_credits",
        "credits_per_second",
        "active",
        "updated_at",
    )
    list_filter = ("operation", "model_tier", "resolution", "audio", "active")
    list_editable = ("flat_credits", "credits_per_second", "active")
    # Above the rows: every effective price, the settings defaults included, each with a link
    # that opens this add form pre-filled to override it.
    change_list_template = "billing/admin/price_change_list.html"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        add_url = reverse("admin:billing_price_add")
        effective = [
            {
                "line": line,
                "override_url": add_url
                + "?"
                + urlencode(
                    {
                        "operation": line.operation,
                        "model_tier": line.model_tier,
                        "resolution": line.resolution,
                        "flat_credits": str(line.flat_credits),
                        "credits_per_second": str(line.credits_per_second),
                    }
                ),
                "change_url": (
                    reverse("admin:billing_price_change", args=[line.row_id]) if line.row_id else ""
                ),
            }
            for line in price_table()
        ]
        return super().changelist_view(
            request, {**(extra_context or {}), "effective_prices": effective}
        )


# ---------------------------------------------------------------------------------------------
# Stripe top-ups
# ---------------------------------------------------------------------------------------------


@admin.register(CreditPack)
class CreditPackAdmin(admin.ModelAdmin):
    list_display = ("name", "credits", "price", "currency", "active", "updated_at")
    list_filter = ("active", "currency")
    list_editable = ("active",)
    search_fields = ("name",)


TOPUP_CSV_HEADER = [
    "created_at",
    "uid",
    "user_email",
    "pack",
    "credits",
    "amount",
    "currency",
    "status",
    "paid_at",
    "stripe_session_id",
    "stripe_payment_intent_id",
    "stripe_charge_id",
    "amount_refunded",
    "dispute_id",
    "dispute_status",
    "credits_clawed_back",
    "failure_reason",
]


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "user",
        "pack",
        "credits",
        "amount",
        "currency",
        "status",
        "amount_refunded",
        "dispute_status",
        "credits_clawed_back",
        "stripe_session_id",
    )
    list_filter = ("status", "currency", "dispute_status")
    search_fields = (
        "=stripe_session_id",
        "=stripe_payment_intent_id",
        "=stripe_charge_id",
        "=dispute_id",
        "user__email",
        "uid",
    )
    date_hierarchy = "created_at"
    list_select_related = ("user", "pack")
    actions = ("export_csv",)
    change_list_template = "billing/admin/topup_change_list.html"

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.export_topup")

    @admin.action(description="Export selected top-ups as CSV", permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[TopUp]) -> StreamingHttpResponse:
        queryset = queryset.select_related("user", "pack").order_by("created_at", "id")

        def rows() -> Iterator[list[object]]:
            for t in queryset.iterator(chunk_size=2000):
                yield [
                    t.created_at,
                    t.uid,
                    t.user.email,
                    t.pack.name,
                    t.credits,
                    t.amount,
                    t.currency,
                    t.status,
                    t.paid_at,
                    t.stripe_session_id,
                    t.stripe_payment_intent_id,
                    t.stripe_charge_id,
                    t.amount_refunded,
                    t.dispute_id,
                    t.dispute_status,
                    t.credits_clawed_back,
                    t.failure_reason,
                ]

        return csv_stream(filename=f"topups-{_stamp()}.csv", header=TOPUP_CSV_HEADER, rows=rows())

    def get_urls(self) -> list[URLPattern]:
        summary = path(
            "summary/", self.admin_site.admin_view(self.summary_view), name="billing_summary"
        )
        return [summary, *super().get_urls()]

    def summary_view(self, request: HttpRequest) -> TemplateResponse:
        """Revenue and credits sold / used per day, with an inline SVG chart (no CDN)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            days = min(max(int(request.GET.get("days", "30")), 1), 366)
        except ValueError:
            days = 30
        summary = finance_daily_summary(days=days)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Billing summary — last {days} days",
            "opts": self.model._meta,
            "days": days,
            "rows": summary,
            "totals": finance_totals(summary),
            "chart": finance_chart(summary),
            # Days are business days (TIME_ZONE), whatever zone the viewer displays times in.
            "time_zone": settings.TIME_ZONE,
        }
        return TemplateResponse(request, "billing/admin/summary.html", context)


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "event_id", "type", "outcome", "note", "livemode")
    list_filter = ("type", "outcome", "livemode")
    search_fields = ("=event_id", "type", "note")
    date_hierarchy = "received_at"
    exclude = ("payload",)


# Manual adjustments, maker-checker (billing/admin/adjustments.py).
admin.site.register(AdjustmentRequest, AdjustmentRequestAdmin)


# ---------------------------------------------------------------------------------------------
# Usage alerts (read-only: customers manage them over the API and the dashboard)
# ---------------------------------------------------------------------------------------------


@admin.register(UsageAlert)
class UsageAlertAdmin(ReadOnlyAdmin):
    list_display = (
        "user",
        "metric",
        "threshold",
        "email",
        "webhook",
        "active",
        "state",
        "fired_at",
        "fired_value",
    )
    list_filter = ("metric", "state", "active")
    search_fields = ("user__email",)
    list_select_related = ("user",)
