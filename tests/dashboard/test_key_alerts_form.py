"""The dashboard's alerts form takes key budget alerts ("key X used 80 % of its budget"): the
key picked from the user's own keys, a percentage threshold, clear errors; the list shows the
key. And the key page's model allow-list is a checkbox per catalog model id."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.services import api_key_create, api_key_limits_set, api_key_revoke
from billing.models import UsageAlert
from tests.dashboard.conftest import make_user

pytestmark = pytest.mark.django_db
METRIC = "key_budget_used_above"


def budgeted(user: Any, name: str = "contractor", budget: int | None = 500) -> Any:
    key = api_key_create(user=user, name=name).api_key
    return api_key_limits_set(
        api_key=key, changes={"budget_credits": budget}, actor=None, via="test"
    )


def alert(browser: Client, **fields: Any) -> Any:
    return browser.post("/dashboard/alerts/", {"email": "on", **fields})


def test_a_key_budget_alert_is_created_and_listed_with_its_key(browser: Client, member) -> None:  # type: ignore[no-untyped-def]
    key = budgeted(member)
    page = browser.get("/dashboard/alerts/").content.decode()
    assert f'<option value="{key.pk}">contractor ({key.masked}, 500 / Month)</option>' in page
    response = alert(browser, metric=METRIC, api_key_id=key.pk, threshold="80")
    assert response.status_code == 302
    created = UsageAlert.objects.get()
    assert (created.metric, created.api_key_id, created.threshold) == (METRIC, key.pk, 80)
    page = browser.get("/dashboard/alerts/").content.decode()
    row = page[page.index(f'id="alert-{created.pk}"') :].split("</tr>")[0]
    assert "Key contractor has used more of its budget than (%)" in row
    assert f'href="/accounts/keys/{key.pk}/"' in row and key.masked in row
    assert "80 %" in row


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"threshold": "80"}, "api_key_id", "Choose the key whose budget to watch."),
        ({"threshold": "120", "key": True}, "threshold", "A key budget alert takes a percentage"),
        ({"threshold": "80", "key": "unbudgeted"}, "api_key_id", "This key has no budget"),
        ({"threshold": "80", "key": "stranger"}, "api_key_id", "Select a valid choice"),
        ({"threshold": "80", "key": "revoked"}, "api_key_id", "Select a valid choice"),
        (
            {"threshold": "80", "key": True, "metric": "available_below"},
            "api_key_id",
            "Only a key budget alert watches a key.",
        ),
    ],
)
def test_a_key_budget_alert_is_validated(browser: Client, member, fields, field, message) -> None:  # type: ignore[no-untyped-def]
    keys = {
        True: budgeted(member),
        "unbudgeted": budgeted(member, "plain", None),
        "stranger": budgeted(make_user(), "theirs"),
        "revoked": budgeted(member, "old"),
    }
    api_key_revoke(api_key=keys["revoked"])
    data = {"metric": fields.get("metric", METRIC), "threshold": fields["threshold"]}
    if "key" in fields:
        data["api_key_id"] = keys[fields["key"]].pk
    response = alert(browser, **data)
    assert response.status_code == 400
    assert message in str(response.context["form"].errors[field])
    assert not UsageAlert.objects.exists()


def test_account_alerts_still_need_no_key(browser: Client) -> None:
    response = alert(browser, metric="available_below", threshold="5000", api_key_id="")
    assert response.status_code == 302
    assert UsageAlert.objects.get().api_key_id is None


def test_the_key_page_offers_a_checkbox_per_catalog_model(browser: Client, member) -> None:  # type: ignore[no-untyped-def]
    models = Client().get("/api/v1/models").json()["data"]["models"]
    key = api_key_create(user=member, name="older").api_key
    # A key saved with a tier name (before model ids) shows that tier's model ticked.
    key = api_key_limits_set(api_key=key, changes={"allowed_models": ["lite"]}, actor=None, via="t")
    form = browser.get(f"/accounts/keys/{key.pk}/").context["form"]
    assert [value for value, _label in form.fields["allowed_models"].choices] == [
        m["id"] for m in models
    ]
    lite = next(m["id"] for m in models if m["tier"] == "lite")
    assert form.initial["allowed_models"] == [lite]
    page = browser.get(f"/accounts/keys/{key.pk}/").content.decode()
    assert f'value="{lite}"' in page and "checked" in page.split(f'value="{lite}"')[1][:40]


def test_a_model_the_catalog_no_longer_offers_stays_ticked_and_is_not_dropped_silently(  # type: ignore[no-untyped-def]
    browser: Client, member
) -> None:
    key = api_key_create(user=member, name="pinned").api_key
    # Limited while Vertex served the fast tier; the operator has since switched providers.
    key = api_key_limits_set(
        api_key=key, changes={"allowed_models": ["veo-3.1-fast-generate-001"]}, actor=None, via="t"
    )
    page = browser.get(f"/accounts/keys/{key.pk}/").content.decode()
    assert "veo-3.1-fast-generate-001 (no longer offered)" in page
    form = {"name": "pinned", "scopes": ["read", "generate"], "budget_period": "month"}
    response = browser.post(
        f"/accounts/keys/{key.pk}/", {**form, "allowed_models": ["veo-3.1-fast-generate-001"]}
    )
    assert response.status_code == 400
    errors = response.context["form"].errors.as_data()["allowed_models"]
    assert "unknown model 'veo-3.1-fast-generate-001'" in errors[0].message
    key.refresh_from_db()
    assert key.allowed_models == ["veo-3.1-fast-generate-001"]
