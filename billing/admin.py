"""Finance-facing admin: the ledger is read-only; prices are editable."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from billing.models import LedgerAccount, Price, Transfer


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "kind", "user", "posted_credits", "held_credits",
                    "available_credits", "created_at")
    list_filter = ("kind",)
    search_fields = ("user__email", "code")
    list_select_related = ("user",)

    @admin.display(description="posted")
    def posted_credits(self, obj: LedgerAccount) -> int | str:
        return obj.posted if obj.kind == LedgerAccount.Kind.CUSTOMER else "—"

    @admin.display(description="held")
    def held_credits(self, obj: LedgerAccount) -> int | str:
        return obj.held if obj.kind == LedgerAccount.Kind.CUSTOMER else "—"

    @admin.display(description="available")
    def available_credits(self, obj: LedgerAccount) -> int | str:
        return obj.available if obj.kind == LedgerAccount.Kind.CUSTOMER else "—"


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "phase", "amount", "debit_account", "credit_account",
                    "balance_after", "job_id", "actor", "reason")
    list_filter = ("kind", "phase")
    search_fields = ("idempotency_key", "job_id", "reference", "debit_account__user__email",
                     "credit_account__user__email")
    date_hierarchy = "created_at"
    list_select_related = ("debit_account__user", "credit_account__user", "actor")


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ("operation", "model_tier", "resolution", "flat_credits",
                    "credits_per_second", "active", "updated_at")
    list_filter = ("operation", "model_tier", "resolution", "active")
    list_editable = ("flat_credits", "credits_per_second", "active")
