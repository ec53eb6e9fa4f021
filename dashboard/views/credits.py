"""The dashboard's credits pages (balance, packs, usage chart, ledger, CSV export) and the pages
Stripe Checkout sends the customer back to (success, which fulfils, and cancel)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.typing import AuthenticatedHttpRequest
from billing.errors import PackUnavailable, PaymentsNotConfigured
from billing.selectors import (
    balance_get,
    credit_pack_get,
    credit_packs_active,
    credits_used_by_day,
    transfer_available_effect,
    transfers_for_user,
)
from billing.services import topup_checkout_create, topup_fulfil_from_stripe
from billing.stripe_client import StripeNotFound, StripeUnavailable, is_configured
from veosaas.http import csv_stream, public_base_url
from veosaas.strict import int_parse

# Checkout Session ids are `cs_` + letters, digits and underscores; anything else is refused
# before it reaches a Stripe URL.
SESSION_ID_RE = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")


def _page(request: HttpRequest, state: str, status: int, **context: object) -> HttpResponse:
    return render(request, "billing/success.html", {"state": state, **context}, status=status)


@login_not_required  # Stripe redirects the browser here; the customer may have no session.
@require_GET
def topup_success(request: HttpRequest) -> HttpResponse:
    """Re-read the Checkout Session from Stripe and fulfil it (idempotent, S1)."""
    if not is_configured():
        return _page(request, "not_configured", 503)
    session_id = request.GET.get("session_id", "")
    if not SESSION_ID_RE.fullmatch(session_id):
        return _page(request, "bad_request", 400)
    try:
        topup = topup_fulfil_from_stripe(session_id=session_id)
    except PaymentsNotConfigured:
        return _page(request, "not_configured", 503)
    except StripeNotFound:
        return _page(request, "unknown", 404)
    except StripeUnavailable:
        return _page(request, "unavailable", 503)
    if topup is None:
        return _page(request, "unknown", 404)
    return _page(request, topup.status, 200, topup=topup)


@login_not_required
@require_GET
def topup_cancel(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/cancel.html", {"configured": is_configured()})


# ---------------------------------------------------------------------------------------------
# Customer dashboard: balance, packs, usage chart, ledger and its CSV export
# ---------------------------------------------------------------------------------------------

CHART_DAYS = 30
# Currencies Stripe counts in whole units (no cents): https://docs.stripe.com/currencies
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)


def price_text(amount: int, currency: str) -> str:
    """A pack's price from integer minor units, e.g. 1999 usd → "19.99 USD"."""
    if currency.lower() in ZERO_DECIMAL_CURRENCIES:
        return f"{amount} {currency.upper()}"
    return f"{amount // 100}.{amount % 100:02d} {currency.upper()}"


def usage_chart(days: list[tuple[date, int]]) -> dict[str, Any]:
    """Bars of an inline SVG (viewBox 0 0 300 100): x, height and the value of each day."""
    top = max((used for _, used in days), default=0) or 1
    width = 300 / max(len(days), 1)
    bars = [
        {
            "day": day,
            "used": used,
            "x": round(i * width + 1, 2),
            "w": round(max(width - 2, 1), 2),
            "h": round(used * 90 / top, 2),
            "y": round(95 - used * 90 / top, 2),
        }
        for i, (day, used) in enumerate(days)
    ]
    return {
        "bars": bars,
        "top": top,
        # Axis labels: the halfway value and the day in the middle of the range.
        "middle": top // 2 if top % 2 == 0 else round(top / 2, 1),
        "mid_day": days[len(days) // 2][0] if days else None,
        "total": sum(used for _, used in days),
    }


@login_required
@require_GET
def credits_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    transfers = transfers_for_user(user=request.user)
    page = Paginator(transfers, settings.DASHBOARD_PAGE_SIZE * 2).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/credits.html",
        {
            "balance": balance_get(user=request.user),
            "packs": [
                {"pack": p, "price": price_text(p.price, p.currency)} for p in credit_packs_active()
            ],
            "payments_enabled": is_configured(),
            "chart": usage_chart(credits_used_by_day(user=request.user, days=CHART_DAYS)),
            "page": page,
        },
    )


@login_required
@require_POST
def credits_buy(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Start a Stripe Checkout for a pack and send the browser to Stripe's page."""
    pack_id = request.POST.get("pack", "")
    number = int_parse(pack_id)  # ASCII digits within a bigint
    pack = credit_pack_get(pack_id=number) if number is not None and number > 0 else None
    if pack is None:
        messages.error(request, _("This credit pack does not exist."))
        return redirect("dashboard:credits")
    try:
        start = topup_checkout_create(
            user=request.user,
            pack=pack,
            base_url=public_base_url(request),
        )
    except PaymentsNotConfigured:
        messages.error(request, _("Payments are not configured on this server."))
    except PackUnavailable:
        messages.error(request, _("This credit pack is no longer sold."))
    except StripeUnavailable:
        messages.error(request, _("The payment provider is unavailable. Please try again."))
    else:
        return redirect(start.url)
    return redirect("dashboard:credits")


CSV_HEADER = [
    "id",
    "created_at",
    "entry",
    "phase",
    "amount",
    "effect_on_available",
    "available_after",
    "job_id",
    "reason",
    "reference",
]


@login_required
@require_GET
def ledger_csv(request: AuthenticatedHttpRequest) -> StreamingHttpResponse:
    """The user's whole ledger as CSV, streamed row by row (never built in memory)."""
    user_id = request.user.pk
    rows = (
        [
            t.uid,
            t.created_at,
            t.kind,
            t.phase,
            t.amount,
            transfer_available_effect(t, user_id=user_id),
            t.balance_after,
            t.job_id,
            t.reason,
            t.reference,
        ]
        for t in transfers_for_user(user=request.user).iterator(chunk_size=500)
    )
    return csv_stream(
        filename=f"veosaas-ledger-{timezone.localdate():%Y%m%d}.csv", header=CSV_HEADER, rows=rows
    )
