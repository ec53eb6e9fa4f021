"""Template filters for ledger entries (credits page, job page): a customer-facing label and
the entry's effect on available credits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import template
from django.utils.translation import gettext_lazy as _

from billing.models import Transfer
from billing.selectors import transfer_available_effect

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

register = template.Library()

ENTRY_LABELS: dict[str, StrPromise] = {
    Transfer.Kind.GRANT: _("Free credits"),
    Transfer.Kind.TOPUP: _("Purchase"),
    Transfer.Kind.HOLD: _("Hold"),
    Transfer.Kind.CAPTURE: _("Capture (charged)"),
    Transfer.Kind.RELEASE: _("Release (returned)"),
    Transfer.Kind.EXPIRE: _("Hold expired (returned)"),
    Transfer.Kind.ADJUSTMENT: _("Adjustment"),
    Transfer.Kind.CLAWBACK: _("Refunded payment"),
    Transfer.Kind.REINSTATE: _("Reinstated"),
}


@register.filter
def entry_label(transfer: Transfer) -> str:
    return str(ENTRY_LABELS.get(transfer.kind, transfer.kind))


@register.filter
def available_effect(transfer: Transfer, user_id: int) -> int:
    return transfer_available_effect(transfer, user_id=user_id)
