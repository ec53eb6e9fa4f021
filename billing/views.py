"""Pages Stripe Checkout sends the customer back to (success, which fulfils, and cancel), and
the dashboard's credits pages (balance, packs, usage chart, ledger, CSV export)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.alerts import (
    AlertInvalid,
    AlertNotFound,
    alert_create,
    alert_delete,
)
from billing.errors import PackUnavailable, PaymentsNotConfigured
from billing.forms import METRIC_LABELS, AlertCreateForm, CallbackUrlForm
from billing.selectors import (
    balance_get,
    credit_pack_get,
    credit_packs_active,
    credits_used_by_day,
    transfer_available_effect,
    transfers_for_user,
)
from billing.stripe_client import StripeNotFound, StripeUnavailable, is_configured
from billing.topups import topup_checkout_create, topup_fulfil_from_stripe
from billing.usage import alert_deliveries_recent, alerts_for_user
from outbound.errors import CallbackUrlInvalid
from outbound.selectors import account_callback_url_get
from outbound.services import account_callback_url_set

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
    return {"bars": bars, "top": top, "total": sum(used for _, used in days)}


@login_required
@require_GET
def credits_page(request: HttpRequest) -> HttpResponse:
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
def credits_buy(request: HttpRequest) -> HttpResponse:
    """Start a Stripe Checkout for a pack and send the browser to Stripe's page."""
    pack_id = request.POST.get("pack", "")
    valid = pack_id.isdigit() and len(pack_id) <= 18  # within a bigint
    pack = credit_pack_get(pack_id=int(pack_id)) if valid else None
    if pack is None:
        messages.error(request, _("This credit pack does not exist."))
        return redirect("credits:index")
    try:
        start = topup_checkout_create(
            user=request.user,
            pack=pack,
            base_url=settings.PUBLIC_BASE_URL or request.build_absolute_uri("/"),
        )
    except PaymentsNotConfigured:
        messages.error(request, _("Payments are not configured on this server."))
    except PackUnavailable:
        messages.error(request, _("This credit pack is no longer sold."))
    except StripeUnavailable:
        messages.error(request, _("The payment provider is unavailable. Please try again."))
    else:
        return redirect(start.url)
    return redirect("credits:index")


class _Echo:
    """A file-like object whose write returns the row (csv.writer into a streaming response)."""

    def write(self, value: str) -> str:
        return value


def _csv_text(value: str) -> str:
    """Text cells a spreadsheet would run as a formula get a leading apostrophe (OWASP
    "CSV injection")."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


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
def ledger_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The user's whole ledger as CSV, streamed row by row (never built in memory)."""
    user_id = request.user.pk
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(CSV_HEADER)
        for t in transfers_for_user(user=request.user).iterator(chunk_size=500):
            yield writer.writerow(
                [
                    t.uid,
                    t.created_at.isoformat(),
                    t.kind,
                    t.phase,
                    t.amount,
                    transfer_available_effect(t, user_id=user_id),
                    "" if t.balance_after is None else t.balance_after,
                    t.job_id or "",
                    _csv_text(t.reason),
                    _csv_text(t.reference),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    filename = f"veosaas-ledger-{timezone.localdate():%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# ---------------------------------------------------------------------------------------------
# Customer dashboard: usage alerts (/dashboard/alerts/, billing/urls.py)
# ---------------------------------------------------------------------------------------------


def _alerts_render(
    request: HttpRequest, *, form: AlertCreateForm, url_form: CallbackUrlForm, status: int = 200
) -> HttpResponse:
    alerts = [
        {"alert": a, "label": METRIC_LABELS.get(a.metric, a.metric)}
        for a in alerts_for_user(user=request.user)
    ]
    return render(
        request,
        "dashboard/alerts.html",
        {
            "alerts": alerts,
            "form": form,
            "url_form": url_form,
            "callback_url": account_callback_url_get(user=request.user),
            "deliveries": alert_deliveries_recent(user=request.user),
            "time_zone": settings.GENERATION_DAILY_LIMIT_TIME_ZONE,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def alerts_page(request: HttpRequest) -> HttpResponse:
    """List the account's usage alerts; POST creates one."""
    form = AlertCreateForm(request.POST or None)
    url_form = CallbackUrlForm(initial={"url": account_callback_url_get(user=request.user)})
    if request.method == "POST":
        if form.is_valid():
            try:
                alert_create(user=request.user, **form.cleaned_data)
            except AlertInvalid as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, _("Alert created."))
                return redirect("billing:alerts")
        return _alerts_render(request, form=form, url_form=url_form, status=400)
    return _alerts_render(request, form=form, url_form=url_form)


@login_required
@require_POST
def alert_delete_view(request: HttpRequest, alert_id: int) -> HttpResponse:
    try:
        alert_delete(user=request.user, alert_id=alert_id)
    except AlertNotFound as exc:
        raise Http404 from exc
    messages.success(request, _("Alert deleted."))
    return redirect("billing:alerts")


@login_required
@require_POST
def callback_url_view(request: HttpRequest) -> HttpResponse:
    """Set or clear the account callback URL (where alert webhooks go)."""
    url_form = CallbackUrlForm(request.POST)
    if url_form.is_valid():
        try:
            account_callback_url_set(user=request.user, url=url_form.cleaned_data["url"])
        except CallbackUrlInvalid as exc:
            url_form.add_error("url", exc.message)
        else:
            messages.success(request, _("Callback URL saved."))
            return redirect("billing:alerts")
    return _alerts_render(request, form=AlertCreateForm(), url_form=url_form, status=400)
