"""The finance admin (L8): groups, read-only ledger, CSV exports, maker-checker adjustments,
top-up search by Stripe ids and the daily summary."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from billing.errors import AdjustmentRefused
from billing.models import AdjustmentRequest, TopUp, Transfer
from billing.selectors import balance_get, ledger_inconsistencies
from billing.services import (
    adjustment_request_approve,
    adjustment_request_create,
    adjustment_request_reject,
    credits_grant,
)
from tests.billing.stripe_fakes import event, post_webhook
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def staff_in(*groups: str) -> Any:
    user = UserFactory(is_staff=True)
    user.groups.set(Group.objects.filter(name__in=groups))
    return user


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def finance() -> Any:
    return staff_in("Finance")


@pytest.fixture
def approver() -> Any:
    return staff_in("Finance", "Finance approvers")


@pytest.fixture
def customer() -> Any:
    user = UserFactory()
    credits_grant(user=user, amount=100, idempotency_key=f"seed:{user.pk}")
    return user


def csv_rows(response: Any) -> list[list[str]]:
    assert response.streaming
    content = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(content)))


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# ---------------------------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------------------------


def test_finance_groups_hold_exactly_their_permissions() -> None:
    def perms(name: str) -> set[str]:
        return {
            f"{p.content_type.app_label}.{p.codename}"
            for p in Group.objects.get(name=name).permissions.all()
        }

    assert perms("Finance") == {
        "billing.view_ledgeraccount",
        "billing.view_transfer",
        "billing.export_transfer",
        "billing.view_topup",
        "billing.export_topup",
        "billing.view_creditpack",
        "billing.view_stripeevent",
        "billing.view_adjustmentrequest",
        "billing.add_adjustmentrequest",
        "accounts.view_user",
    }
    assert perms("Finance approvers") == {
        "billing.view_adjustmentrequest",
        "billing.approve_adjustmentrequest",
    }


# ---------------------------------------------------------------------------------------------
# Ledger: read-only, exportable
# ---------------------------------------------------------------------------------------------


def test_finance_reads_the_ledger_but_cannot_edit_or_delete_it(finance, customer) -> None:
    client = logged_in(finance)
    transfer = Transfer.objects.get(credit_account__user=customer)
    assert client.get(reverse("admin:billing_transfer_changelist")).status_code == 200
    assert client.get(reverse("admin:billing_ledgeraccount_changelist")).status_code == 200
    change_url = reverse("admin:billing_transfer_change", args=[transfer.pk])
    assert client.get(change_url).status_code == 200  # a read-only view
    assert client.post(change_url, {"amount": 1_000_000}).status_code == 403
    assert client.get(reverse("admin:billing_transfer_add")).status_code == 403
    delete_url = reverse("admin:billing_transfer_delete", args=[transfer.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    # The bulk delete action is not offered either.
    client.post(
        reverse("admin:billing_transfer_changelist"),
        {"action": "delete_selected", "_selected_action": [transfer.pk], "post": "yes"},
    )
    assert Transfer.objects.get(pk=transfer.pk).amount == 100
    assert client.get(reverse("admin:billing_price_changelist")).status_code == 403


def test_finance_exports_transfers_as_streaming_csv(finance, customer) -> None:
    credits_grant(
        user=customer, amount=5, idempotency_key="=HYPERLINK(evil)", reason="=cmd|' /C calc'!A0"
    )
    response = logged_in(finance).post(
        reverse("admin:billing_transfer_changelist"),
        {
            "action": "export_csv",
            "_selected_action": list(Transfer.objects.values_list("pk", flat=True)),
        },
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    header, body = rows[0], rows[1:]
    assert header[:5] == ["created_at", "uid", "kind", "phase", "amount"]
    assert [row[4] for row in body] == ["100", "5"]
    assert {row[7] for row in body} == {customer.email}
    assert body[1][11] == "'=cmd|' /C calc'!A0"  # formulas are neutralised


def test_staff_without_export_permission_cannot_export(customer) -> None:
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(
        *Group.objects.get(name="Finance").permissions.filter(codename="view_transfer")
    )
    response = logged_in(viewer).post(
        reverse("admin:billing_transfer_changelist"),
        {
            "action": "export_csv",
            "_selected_action": list(Transfer.objects.values_list("pk", flat=True)),
        },
    )
    assert not getattr(response, "streaming", False)


# ---------------------------------------------------------------------------------------------
# Top-ups
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def paid_topup(client, fake_stripe, start_checkout) -> TopUp:
    topup = start_checkout()
    post_webhook(
        client, event("checkout.session.completed", fake_stripe.pay(topup.stripe_session_id))
    )
    post_webhook(
        client,
        event(
            "charge.refunded",
            {
                "id": "ch_test_searchable",
                "object": "charge",
                "amount": 1000,
                "amount_refunded": 0,
                "currency": "usd",
                "payment_intent": fake_stripe.sessions[topup.stripe_session_id]["payment_intent"],
                "metadata": {},
            },
        ),
    )
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PAID
    return topup


def test_topups_are_searchable_by_stripe_ids(finance, paid_topup: TopUp) -> None:
    client = logged_in(finance)
    other = TopUp.objects.create(
        user=UserFactory(),
        pack=paid_topup.pack,
        credits=1,
        amount=1,
        currency="usd",
        stripe_session_id="cs_test_other",
    )
    url = reverse("admin:billing_topup_changelist")
    for term in (
        paid_topup.stripe_session_id,
        paid_topup.stripe_payment_intent_id,
        "ch_test_searchable",
    ):
        page = client.get(url, {"q": term})
        assert page.status_code == 200
        assert list(page.context["cl"].queryset) == [paid_topup], term
    assert list(client.get(url, {"q": "cs_test_other"}).context["cl"].queryset) == [other]


def test_finance_exports_topups_as_csv(finance, paid_topup: TopUp) -> None:
    response = logged_in(finance).post(
        reverse("admin:billing_topup_changelist"),
        {"action": "export_csv", "_selected_action": [paid_topup.pk]},
    )
    rows = csv_rows(response)
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["stripe_session_id"] == paid_topup.stripe_session_id
    assert record["stripe_charge_id"] == "ch_test_searchable"
    assert (record["status"], record["credits"], record["amount"]) == ("paid", "100", "1000")


def test_finance_cannot_change_topups_or_stripe_events(finance, paid_topup: TopUp) -> None:
    client = logged_in(finance)
    assert (
        client.post(
            reverse("admin:billing_topup_change", args=[paid_topup.pk]), {"status": "failed"}
        ).status_code
        == 403
    )
    assert client.get(reverse("admin:billing_stripeevent_changelist")).status_code == 200
    assert client.get(reverse("admin:billing_stripeevent_add")).status_code == 403
    assert client.get(reverse("admin:billing_creditpack_add")).status_code == 403


def test_summary_page_shows_revenue_credits_and_a_chart(finance, paid_topup: TopUp) -> None:
    response = logged_in(finance).get(reverse("admin:billing_summary"), {"days": "7"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html
    assert "cdn" not in html.lower()
    totals = response.context["totals"]
    assert totals["revenue"] == [("usd", 1000)]
    assert totals["credits_sold"] == 100
    assert len(response.context["rows"]) == 7


def test_summary_page_needs_topup_view_permission() -> None:
    client = logged_in(UserFactory(is_staff=True))
    assert client.get(reverse("admin:billing_summary")).status_code == 403


# ---------------------------------------------------------------------------------------------
# Adjustments: maker-checker (L8)
# ---------------------------------------------------------------------------------------------


def test_finance_requests_an_adjustment_through_the_admin(finance, customer) -> None:
    client = logged_in(finance)
    assert client.get(reverse("admin:billing_adjustmentrequest_add")).status_code == 200
    response = client.post(
        reverse("admin:billing_adjustmentrequest_add"),
        {
            "user": customer.pk,
            "amount": 25,
            "reason": "goodwill after outage",
            "reference": "TICKET-42",
        },
    )
    assert response.status_code == 302
    request = AdjustmentRequest.objects.get()
    assert (request.user, request.amount, request.requested_by, request.status) == (
        customer,
        25,
        finance,
        "pending",
    )
    assert request.transfer is None
    assert balance_get(user=customer).available == 100  # nothing posted before approval


def test_adjustment_request_needs_a_nonzero_amount_and_a_reference(finance, customer) -> None:
    client = logged_in(finance)
    for data in ({"amount": 0, "reference": "T-1"}, {"amount": 5, "reference": ""}):
        response = client.post(
            reverse("admin:billing_adjustmentrequest_add"),
            {"user": customer.pk, "reason": "x", **data},
        )
        assert response.status_code == 200  # the form again, with errors
    assert not AdjustmentRequest.objects.exists()


def test_finance_without_approve_permission_cannot_approve(finance, customer) -> None:
    request = adjustment_request_create(
        user=customer,
        amount=10,
        reason="r",
        reference="T-1",
        requested_by=UserFactory(is_staff=True),
    )
    client = logged_in(finance)
    changelist = client.get(reverse("admin:billing_adjustmentrequest_changelist"))
    assert "approve_requests" not in changelist.content.decode()
    client.post(
        reverse("admin:billing_adjustmentrequest_changelist"),
        {"action": "approve_requests", "_selected_action": [request.pk]},
    )
    with pytest.raises(AdjustmentRefused, match="permission"):
        adjustment_request_approve(adjustment_request=request, approver=finance)
    request.refresh_from_db()
    assert request.status == "pending"
    assert not Transfer.objects.filter(kind=Transfer.Kind.ADJUSTMENT).exists()


def test_nobody_approves_their_own_request(approver, customer) -> None:
    request = adjustment_request_create(
        user=customer, amount=10, reason="r", reference="T-1", requested_by=approver
    )
    response = logged_in(approver).post(
        reverse("admin:billing_adjustmentrequest_changelist"),
        {"action": "approve_requests", "_selected_action": [request.pk]},
        follow=True,
    )
    assert any("cannot approve their own" in m for m in messages_of(response))
    with pytest.raises(AdjustmentRefused, match="own request"):
        adjustment_request_approve(adjustment_request=request, approver=approver)
    superuser = UserFactory(is_staff=True, is_superuser=True)
    own = adjustment_request_create(
        user=customer, amount=1, reason="r", reference="T-2", requested_by=superuser
    )
    with pytest.raises(AdjustmentRefused):
        adjustment_request_approve(adjustment_request=own, approver=superuser)
    assert AdjustmentRequest.objects.filter(status="pending").count() == 2
    assert not Transfer.objects.filter(kind=Transfer.Kind.ADJUSTMENT).exists()


def test_approver_approves_someone_elses_request(finance, approver, customer) -> None:
    logged_in(finance).post(
        reverse("admin:billing_adjustmentrequest_add"),
        {"user": customer.pk, "amount": -30, "reason": "duplicate grant", "reference": "T-7"},
    )
    request = AdjustmentRequest.objects.get()
    response = logged_in(approver).post(
        reverse("admin:billing_adjustmentrequest_changelist"),
        {"action": "approve_requests", "_selected_action": [request.pk]},
        follow=True,
    )
    assert response.status_code == 200
    request.refresh_from_db()
    assert (request.status, request.approved_by, request.requested_by) == (
        "approved",
        approver,
        finance,
    )
    transfer = request.transfer
    assert transfer is not None
    assert (
        transfer.kind,
        transfer.actor,
        transfer.amount,
        transfer.reason,
        transfer.reference,
    ) == ("adjustment", approver, 30, "duplicate grant", "T-7")
    assert transfer.debit_account.user == customer
    assert balance_get(user=customer).available == 70
    # Approving again changes nothing.
    logged_in(approver).post(
        reverse("admin:billing_adjustmentrequest_changelist"),
        {"action": "approve_requests", "_selected_action": [request.pk]},
    )
    assert Transfer.objects.filter(kind=Transfer.Kind.ADJUSTMENT).count() == 1
    assert ledger_inconsistencies() == []


def test_removal_beyond_the_balance_stays_pending(finance, approver, customer) -> None:
    request = adjustment_request_create(
        user=customer, amount=-101, reason="r", reference="T-1", requested_by=finance
    )
    response = logged_in(approver).post(
        reverse("admin:billing_adjustmentrequest_changelist"),
        {"action": "approve_requests", "_selected_action": [request.pk]},
        follow=True,
    )
    assert any("not approved" in m for m in messages_of(response))
    request.refresh_from_db()
    assert request.status == "pending"
    assert balance_get(user=customer).available == 100


def test_rejection_posts_nothing(finance, approver, customer) -> None:
    request = adjustment_request_create(
        user=customer, amount=10, reason="r", reference="T-1", requested_by=finance
    )
    logged_in(approver).post(
        reverse("admin:billing_adjustmentrequest_changelist"),
        {"action": "reject_requests", "_selected_action": [request.pk]},
    )
    request.refresh_from_db()
    assert (request.status, request.rejected_by, request.transfer) == ("rejected", approver, None)
    with pytest.raises(AdjustmentRefused, match="already rejected"):
        adjustment_request_approve(adjustment_request=request, approver=approver)
    withdrawn = adjustment_request_create(
        user=customer, amount=5, reason="r", reference="T-2", requested_by=finance
    )
    adjustment_request_reject(adjustment_request=withdrawn, reviewer=finance)
    assert balance_get(user=customer).available == 100


def test_requests_cannot_be_edited_or_deleted(finance, approver, customer) -> None:
    request = adjustment_request_create(
        user=customer, amount=10, reason="r", reference="T-1", requested_by=finance
    )
    for user in (finance, approver):
        client = logged_in(user)
        change = reverse("admin:billing_adjustmentrequest_change", args=[request.pk])
        assert (
            client.post(
                change, {"user": customer.pk, "amount": 999, "reason": "x", "reference": "y"}
            ).status_code
            == 403
        )
        delete = reverse("admin:billing_adjustmentrequest_delete", args=[request.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
    request.refresh_from_db()
    assert request.amount == 10


def test_database_refuses_a_self_approved_request(customer) -> None:
    staff = UserFactory(is_staff=True)
    transfer = credits_grant(user=customer, amount=1, idempotency_key="adj:x", kind="adjustment")
    with pytest.raises(IntegrityError), transaction.atomic():
        AdjustmentRequest.objects.create(
            user=customer,
            amount=1,
            reason="r",
            reference="T",
            requested_by=staff,
            approved_by=staff,
            status="approved",
            transfer=transfer,
            decided_at=transfer.created_at,
        )
