"""The price of an operation in credits: the price table, else BILLING_DEFAULT_PRICES."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from billing.errors import PriceNotFound
from billing.models import Price


@dataclass(frozen=True)
class Quote:
    credits: int
    operation: str
    model_tier: str
    resolution: str
    seconds: int


def price_quote(
    *, operation: str, model_tier: str, resolution: str, seconds: int, audio: bool = True
) -> Quote:
    """The price in credits of one operation. Every submit charges exactly this quote.

    A row in the price table wins; otherwise BILLING_DEFAULT_PRICES. An inactive row or a
    combination in neither raises PriceNotFound (the combination is not sold).
    """
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    flat, per_second = price_rate(
        operation=operation, model_tier=model_tier, resolution=resolution, audio=audio
    )
    return Quote(
        credits=flat + per_second * seconds,
        operation=operation,
        model_tier=model_tier,
        resolution=resolution,
        seconds=seconds,
    )


def price_rate(
    *, operation: str, model_tier: str, resolution: str, audio: bool = True
) -> tuple[int, int]:
    """`(flat_credits, credits_per_second)` of one combination; the terms of `price_quote`.

    A row in the price table wins; otherwise BILLING_DEFAULT_PRICES. Without audio: the silent
    row if there is one, else BILLING_SILENT_PRICE_PERCENT of the audio price (rounded up). An
    inactive row or a combination in neither raises PriceNotFound.
    """
    if not audio:
        silent = Price.objects.filter(
            operation=operation, model_tier=model_tier, resolution=resolution, audio=False
        ).first()
        if silent is not None:
            if not silent.active:
                raise PriceNotFound(
                    f"{operation} {model_tier} {resolution} silent is not available"
                )
            return silent.flat_credits, silent.credits_per_second
        flat, per_second = price_rate(
            operation=operation, model_tier=model_tier, resolution=resolution
        )
        percent = int(settings.BILLING_SILENT_PRICE_PERCENT)
        return -(-flat * percent // 100), -(-per_second * percent // 100)
    row = Price.objects.filter(
        operation=operation, model_tier=model_tier, resolution=resolution, audio=True
    ).first()
    if row is not None:
        if not row.active:
            raise PriceNotFound(f"{operation} {model_tier} {resolution} is not available")
        return row.flat_credits, row.credits_per_second
    try:
        flat, per_second = settings.BILLING_DEFAULT_PRICES[operation][model_tier][resolution]
    except KeyError as exc:
        raise PriceNotFound(f"{operation} {model_tier} {resolution} is not available") from exc
    return int(flat), int(per_second)
