from __future__ import annotations

import pytest

from billing.errors import PriceNotFound
from billing.models import Price
from billing.services import price_quote


@pytest.mark.django_db
def test_default_price_is_per_second_times_duration(settings) -> None:
    flat, per_second = settings.BILLING_DEFAULT_PRICES["generate"]["fast"]["720p"]
    quote = price_quote(operation="generate", model_tier="fast", resolution="720p", seconds=8)
    assert quote.credits == flat + per_second * 8


@pytest.mark.django_db
def test_admin_row_overrides_the_default() -> None:
    Price.objects.create(
        operation="generate",
        model_tier="fast",
        resolution="720p",
        flat_credits=3,
        credits_per_second=2,
    )
    assert (
        price_quote(operation="generate", model_tier="fast", resolution="720p", seconds=6).credits
        == 15
    )


@pytest.mark.django_db
def test_upgrades_are_flat_prices() -> None:
    quote = price_quote(operation="upgrade_4k", model_tier="fast", resolution="4k", seconds=8)
    assert quote.credits == 120


@pytest.mark.django_db
def test_inactive_row_makes_the_combination_unavailable() -> None:
    Price.objects.create(
        operation="generate",
        model_tier="quality",
        resolution="4k",
        credits_per_second=50,
        active=False,
    )
    with pytest.raises(PriceNotFound):
        price_quote(operation="generate", model_tier="quality", resolution="4k", seconds=8)


@pytest.mark.django_db
def test_unknown_combination_has_no_price() -> None:
    with pytest.raises(PriceNotFound):
        price_quote(operation="extend", model_tier="lite", resolution="4k", seconds=8)
