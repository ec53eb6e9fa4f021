"""Credits pages: balance, packs (Stripe Checkout or "payments are not configured"), the usage
chart, the ledger and its streamed CSV export — each showing only the user's own rows."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client
from django.urls import reverse

from billing.models import CreditPack, TopUp, Transfer
from billing.services import credits_grant
from generation.services import JobSpec, job_submit
from tests.billing.stripe_fakes import FakeStripe

pytestmark = pytest.mark.django_db

CREDITS = reverse("dashboard:credits")
CSV_URL = reverse("dashboard:ledger-csv")


@pytest.fixture
def run_job(finish_with_tiny_video):
    """Submit a dashboard job for `user` and finish it (a pre-rendered video; these pages show
    money, not pixels)."""

    def run(user, seconds: int = 4):
        job = job_submit(
            user=user, spec=JobSpec(facade="dashboard", prompt="p", duration_seconds=seconds)
        ).job
        return finish_with_tiny_video(job)

    return run


def test_credits_page_shows_balance_ledger_and_todays_usage(
    browser: Client, member, run_job
) -> None:
    job = run_job(member)
    page = browser.get(CREDITS).content.decode()
    assert f'id="credits-available">{1000 - job.credits_quoted}<' in page
    assert 'id="credits-held">0<' in page
    ledger = page[page.index('id="ledger-title"') :]
    assert ledger.count('data-kind="grant"') == 1
    assert ledger.count('data-kind="hold"') == 1 and ledger.count('data-kind="capture"') == 1
    assert reverse("dashboard:job", args=[job.id]) in ledger
    # The chart: 30 bars, today's holds the charge.
    bars = re.findall(r'<rect class="bar[^"]*"[^>]*><title>([^<]*)</title>', page)
    assert len(bars) == 30 and bars[-1].endswith(f": {job.credits_quoted}")
    # Axis values: the day's maximum at the top, half of it, zero; first, middle, last day.
    values = re.search(r'id="chart-values"[^>]*>(.*?)</div>', page).group(1)
    assert re.findall(r"<span>([^<]*)</span>", values) == [
        str(job.credits_quoted),
        str(job.credits_quoted // 2),
        "0",
    ]
    days = re.search(r'id="chart-days"[^>]*>(.*?)</div>', page).group(1)
    assert len(re.findall(r"<span>[^<]+</span>", days)) == 3


def test_ledger_and_csv_show_only_own_rows(browser: Client, member, stranger, run_job) -> None:
    run_job(member)
    theirs = run_job(stranger, seconds=6)
    credits_grant(
        user=stranger, amount=777, idempotency_key="stranger-extra", reason="stranger secret grant"
    )
    page = browser.get(CREDITS).content.decode()
    assert "stranger secret grant" not in page and str(theirs.id) not in page
    response = browser.get(CSV_URL)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="veosaas-ledger-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    own = Transfer.objects.filter(debit_account__user=member) | Transfer.objects.filter(
        credit_account__user=member
    )
    assert sorted(r["id"] for r in rows) == sorted(str(t.uid) for t in own)
    assert {r["entry"] for r in rows} == {"grant", "hold", "capture"}
    assert str(theirs.id) not in {r["job_id"] for r in rows}
    by_entry = {r["entry"]: r for r in rows}
    assert by_entry["grant"]["effect_on_available"] == "1000"
    assert by_entry["hold"]["effect_on_available"] == f"-{by_entry['hold']['amount']}"
    assert by_entry["capture"]["effect_on_available"] == "0"


def test_csv_cells_cannot_run_as_spreadsheet_formulas(browser: Client, member) -> None:
    credits_grant(user=member, amount=1, idempotency_key="formula", reason="=HYPERLINK(1)")
    body = b"".join(browser.get(CSV_URL).streaming_content).decode()
    assert "'=HYPERLINK(1)" in body


def test_ledger_is_paginated(browser: Client, member, settings) -> None:
    settings.DASHBOARD_PAGE_SIZE = 2  # the ledger shows twice as many rows
    for n in range(5):
        credits_grant(user=member, amount=1, idempotency_key=f"g{n}")
    first = browser.get(CREDITS).content.decode()
    assert first.count("<tr data-kind=") == 4 and "Page 1 of 2" in first
    second = browser.get(CREDITS, {"page": 2}).content.decode()
    assert second.count("<tr data-kind=") == 2


def test_payments_off_says_so_and_buying_does_nothing(
    browser: Client, stripe_off, pack: CreditPack
) -> None:
    page = browser.get(CREDITS).content.decode()
    assert "Payments are not configured on this server" in page
    assert re.search(r'<button type="submit" disabled>Buy 100 credits', page)
    response = browser.post(reverse("dashboard:credits-buy"), {"pack": pack.pk}, follow=True)
    assert "Payments are not configured on this server." in response.content.decode()
    assert not TopUp.objects.exists()


def test_buying_a_pack_redirects_to_stripe_checkout(
    browser: Client, member, fake_stripe: FakeStripe, pack: CreditPack
) -> None:
    page = browser.get(CREDITS).content.decode()
    assert "10.00 USD" in page and "not configured" not in page
    response = browser.post(reverse("dashboard:credits-buy"), {"pack": pack.pk})
    topup = TopUp.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"https://checkout.stripe.com/c/pay/{topup.stripe_session_id}"
    assert (topup.user, topup.credits, topup.amount) == (member, 100, 1000)
    (created,) = fake_stripe.checkout_creations()
    assert created.params["customer_email"] == member.email


def test_buying_an_unknown_or_retired_pack_explains(
    browser: Client, fake_stripe: FakeStripe, pack: CreditPack
) -> None:
    unknown = browser.post(reverse("dashboard:credits-buy"), {"pack": "999999"}, follow=True)
    assert "This credit pack does not exist." in unknown.content.decode()
    pack.active = False
    pack.save()
    retired = browser.post(reverse("dashboard:credits-buy"), {"pack": pack.pk}, follow=True)
    assert "no longer sold" in retired.content.decode()
    assert not TopUp.objects.exists()


def test_buy_form_refuses_a_post_without_csrf_token(
    csrf_browser: Client, fake_stripe: FakeStripe, pack: CreditPack
) -> None:
    assert csrf_browser.post(reverse("dashboard:credits-buy"), {"pack": pack.pk}).status_code == 403
    assert not TopUp.objects.exists()
