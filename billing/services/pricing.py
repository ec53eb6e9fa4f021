"""The price of an operation in credits: the price table, else BILLING_DEFAULT_PRICES.

`price_quote` is what every submit charges; `price_table` lists the same effective prices (a
row where staff set one, else the default) for the price page, the new-video form and the
admin, so what is shown is what is charged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from django.conf import settings

from billing import catalog
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


@dataclass(frozen=True)
class PriceLine:
    """One sold (or staff-disabled) combination and where its price comes from."""

    operation: str
    model_tier: str
    resolution: str
    flat_credits: int
    credits_per_second: int
    active: bool
    overridden: bool  # True: a price-table row; False: BILLING_DEFAULT_PRICES
    row_id: int | None = None
    examples: tuple[tuple[int, int], ...] = field(default=())  # (seconds, credits)

    def credits_for(self, seconds: int) -> int:
        return self.flat_credits + self.credits_per_second * seconds


def price_table(*, durations: tuple[int, ...] = ()) -> list[PriceLine]:
    """Every combination with an effective price: the defaults merged with the rows that
    override them (rows for combinations without a default included), in catalog order.
    `durations` adds example totals per duration. One query."""
    lines: dict[tuple[str, str, str], PriceLine] = {}
    for operation, tiers in settings.BILLING_DEFAULT_PRICES.items():
        for tier, resolutions in tiers.items():
            for resolution, (flat, per_second) in resolutions.items():
                lines[(operation, tier, resolution)] = PriceLine(
                    operation, tier, resolution, flat, per_second, True, False
                )
    # Audio prices (a silent video costs its silent row or BILLING_SILENT_PRICE_PERCENT).
    for row in Price.objects.filter(audio=True):
        lines[(row.operation, row.model_tier, row.resolution)] = PriceLine(
            row.operation,
            row.model_tier,
            row.resolution,
            row.flat_credits,
            row.credits_per_second,
            row.active,
            True,
            row.pk,
        )

    return [
        replace(lines[key], examples=tuple((s, lines[key].credits_for(s)) for s in durations))
        for key in sorted(lines, key=_catalog_order)
    ]


def _catalog_order(key: tuple[str, str, str]) -> tuple[int, int, int]:
    """Operations, tiers and resolutions in the catalog's order; unknown ones last."""

    def position(values: list[str], value: str) -> int:
        return values.index(value) if value in values else len(values)

    operation, tier, resolution = key
    return (
        position(list(catalog.Operation.values), operation),
        position(list(catalog.TIERS), tier),
        position(list(catalog.RESOLUTIONS), resolution),
    )
