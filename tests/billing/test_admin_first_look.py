"""What staff see first in the admin: the product's name, plurals that are words, money
columns before the long text, and a Prices page that shows the prices in force."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from billing.models import Price
from billing.services import price_quote
from generation.admin import JobAdmin
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_admin_is_branded_veosaas(superuser_client: Client) -> None:
    page = superuser_client.get(reverse("admin:index")).content.decode()
    assert "veosaas administration" in page and "Django administration" not in page


def test_every_admin_model_has_a_real_plural() -> None:
    for model in admin.site._registry:
        singular = str(model._meta.verbose_name)
        plural = str(model._meta.verbose_name_plural)
        if singular.endswith("y") and singular[-2:-1] not in "aeiou":
            assert plural.endswith("ies"), (model, plural)
    deliveries = next(m for m in admin.site._registry if m._meta.model_name == "delivery")
    assert str(deliveries._meta.verbose_name_plural) == "deliveries"


def test_money_columns_come_before_timestamps_and_text() -> None:
    columns = list(JobAdmin.list_display)
    assert columns.index("credits_charged") < columns.index("created_at")
    assert columns[0] == "short_id"
    transfer_admin = next(
        a for m, a in admin.site._registry.items() if m._meta.model_name == "transfer"
    )
    columns = list(transfer_admin.list_display)
    assert columns.index("balance_after") < columns.index("debit_account")


def test_prices_page_shows_the_defaults_in_force_and_overrides_them(
    superuser_client: Client,
) -> None:
    page = superuser_client.get(reverse("admin:billing_price_changelist")).content.decode()
    table = re.search(r'<table id="effective-prices".*?</table>', page, re.S).group(0)
    assert table.count("default (settings)") >= 10
    fast = re.search(r"<td>generate</td><td>fast</td><td>720p</td>.*?</tr>", table, re.S).group(0)
    override = re.search(r'href="([^"]+)">Override<', fast).group(1).replace("&amp;", "&")
    form = superuser_client.get(override).content.decode()
    assert 'name="credits_per_second" value="8"' in form
    saved = superuser_client.post(
        override,
        {
            "operation": "generate",
            "model_tier": "fast",
            "resolution": "720p",
            "flat_credits": "0",
            "credits_per_second": "6",
            "active": "on",
            "audio": "on",
        },
    )
    assert saved.status_code == 302
    assert Price.objects.get(operation="generate", model_tier="fast").credits_per_second == 6
    quote = price_quote(operation="generate", model_tier="fast", resolution="720p", seconds=8)
    assert quote.credits == 48
    page = superuser_client.get(reverse("admin:billing_price_changelist")).content.decode()
    assert re.search(r"<td>generate</td><td>fast</td><td>720p</td>.*?price table", page, re.S)


def test_the_daily_summary_names_its_time_zone(superuser_client: Client) -> None:
    page = superuser_client.get(reverse("admin:billing_summary")).content.decode()
    assert "Days are calendar days in <strong>Europe/Istanbul</strong>" in page
