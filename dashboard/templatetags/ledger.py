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


# The notes services write on ledger rows are stored in English (the ledger is append-only and
# language-neutral); the pages show them in the reader's language. Staff-written reasons and
# anything else are shown as written.
LEDGER_NOTES = {
    "job succeeded": _("Job succeeded"),
    "signup grant": _("Sign-up credits"),
    "hold expired": _("Hold expired"),
    "demo credits": _("Demo credits"),
    "createapikey": _("Credits granted by the operator"),
}
LEDGER_NOTE_PREFIXES = (
    ("job failed: ", _("Job failed: %(detail)s")),
    ("Stripe top-up ", _("Credit purchase: %(detail)s")),
)


@register.filter
def ledger_note(reason: str) -> str:
    if reason in LEDGER_NOTES:
        return str(LEDGER_NOTES[reason])
    for prefix, text in LEDGER_NOTE_PREFIXES:
        if reason.startswith(prefix):
            return str(text) % {"detail": reason.removeprefix(prefix)}
    return reason


@register.filter
def available_effect(transfer: Transfer, user_id: int) -> int:
    return transfer_available_effect(transfer, user_id=user_id)
