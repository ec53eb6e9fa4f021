"""First run: the signup grant buys a default video, and one price table (the one submit
charges) is published on a price page linked from the dashboard and the docs."""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from billing import catalog
from billing.models import Price
from billing.selectors import balance_get
from billing.services import price_quote, price_table
from dashboard.services import user_signup

pytestmark = pytest.mark.django_db


def _default_video_price() -> int:
    return price_quote(
        operation="generate",
        model_tier=catalog.DEFAULT_TIER,
        resolution=catalog.DEFAULT_RESOLUTION,
        seconds=catalog.DEFAULT_DURATION,
    ).credits


def test_the_signup_grant_buys_at_least_one_default_video() -> None:
    user = user_signup(email="first@example.com", password="a-Long-passw0rd!")
    assert balance_get(user=user).available >= _default_video_price()
    assert _default_video_price() <= django_settings.BILLING_SIGNUP_GRANT_CREDITS


def test_a_new_user_sees_an_affordable_default_on_the_new_video_page(client: Client) -> None:
    password = "a-Long-passw0rd!"
    signup = {"email": "new@example.com", "password1": password, "password2": password}
    client.post(reverse("dashboard:signup"), signup)
    page = client.get(reverse("dashboard:new"))
    assert page.context["price"]["affordable"] is True
    assert 'id="price-table-link"' in page.content.decode()


def test_the_price_table_is_the_one_submit_charges() -> None:
    Price.objects.create(
        operation="generate", model_tier="fast", resolution="720p", credits_per_second=9
    )
    Price.objects.create(
        operation="generate",
        model_tier="lite",
        resolution="1080p",
        credits_per_second=6,
        active=False,
    )
    lines = price_table(durations=catalog.DURATIONS)
    for line in lines:
        if not line.active:
            continue
        for seconds, credits in line.examples:
            quoted = price_quote(
                operation=line.operation,
                model_tier=line.model_tier,
                resolution=line.resolution,
                seconds=seconds,
            ).credits
            assert credits == quoted, line
    fast = next(
        x
        for x in lines
        if (x.operation, x.model_tier, x.resolution) == ("generate", "fast", "720p")
    )
    assert fast.overridden and fast.credits_per_second == 9
    defaults = {(x.operation, x.model_tier, x.resolution) for x in lines if not x.overridden}
    assert ("generate", "quality", "720p") in defaults


def test_the_price_page_lists_every_price_and_is_linked_from_docs_and_dashboard(
    client: Client,
) -> None:
    page = client.get(reverse("dashboard:docs-prices"))
    assert page.status_code == 200
    html = page.content.decode()
    table = re.search(r'<table id="price-table">.*?</table>', html, re.S).group(0)
    # fast 720p: 8 credits per second -> 64 for the default 8 seconds.
    assert re.search(r"<td>Fast</td><td>720p</td>.*?<td class=\"num\">64</td>", table, re.S)
    prices_url = reverse("dashboard:docs-prices")
    assert f'href="{prices_url}"' in client.get(reverse("dashboard:docs")).content.decode()
    assert f'href="{prices_url}"' in client.get(reverse("dashboard:login")).content.decode()
