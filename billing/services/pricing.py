"""The price of an operation in credits: the price table, else BILLING_DEFAULT_PRICES.

`price_quote` is what every submit charges; `price_table` lists the same effective prices (a
row where staff set one, else the default) for the price page, the new-video form and the
admin, so what is shown is what is charged.

The price table is read once per process and kept (`_price_rows`): a quote checks a version
token in the shared cache (one cache read, no SQL; at most every PRICE_VERSION_CHECK_SECONDS),
which every change of a Price row replaces, at once and again after its commit
(`price_cache_invalidate`, connected to Price's signals in billing.apps): the process that made
the change quotes the new price at once, every other process within that second. A process
never keeps rows read inside a transaction that changed prices (they may still be rolled
back), reloads a table older than PRICE_CACHE_MAX_AGE seconds anyway, and reads the database
on every quote while the shared cache is unreachable.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from billing import catalog
from billing.errors import PriceNotFound
from billing.models import Price

PRICE_VERSION_KEY = "billing:prices:version"
PRICE_CACHE_MAX_AGE = 300.0
PRICE_VERSION_CHECK_SECONDS = 1.0
_Rows = dict[tuple[str, str, str, bool], tuple[int, int, bool]]
# (version token, monotonic time loaded, monotonic time the version was checked, rows),
# replaced as a whole.
_cached: list[tuple[str, float, float, _Rows] | None] = [None]
_editing = threading.local()  # .block: the outermost atomic block that changed a Price row


def _editing_now() -> bool:
    """True while this thread is inside the transaction that changed a Price row."""
    block = getattr(_editing, "block", None)
    if block is None:
        return False
    if connection.in_atomic_block and connection.atomic_blocks[0] is block:
        return True
    _editing.block = None
    return False


def _price_rows() -> _Rows:
    """Every Price row as {(operation, tier, resolution, audio): (flat, per second, active)}."""
    now = time.monotonic()
    cached = _cached[0]
    fresh = cached is not None and now - cached[1] < PRICE_CACHE_MAX_AGE and not _editing_now()
    if cached is not None and fresh and now - cached[2] < PRICE_VERSION_CHECK_SECONDS:
        return cached[3]
    version = cache.get(PRICE_VERSION_KEY)
    if version is None:
        token = uuid.uuid4().hex
        version = token if cache.add(PRICE_VERSION_KEY, token, None) else None
    if cached is not None and fresh and version is not None and cached[0] == version:
        _cached[0] = (cached[0], cached[1], now, cached[3])
        return cached[3]
    rows: _Rows = {
        (r.operation, r.model_tier, r.resolution, r.audio): (
            r.flat_credits,
            r.credits_per_second,
            r.active,
        )
        for r in Price.objects.all()
    }
    if version is not None and not _editing_now():
        _cached[0] = (str(version), now, now, rows)
    return rows


def price_cache_invalidate(**_: Any) -> None:
    """A Price row changed: forget this process's table and make every process reload theirs
    (now, and again once the change commits). Connected to Price's save and delete signals."""
    _cached[0] = None
    if connection.in_atomic_block:
        _editing.block = connection.atomic_blocks[0]
    cache.set(PRICE_VERSION_KEY, uuid.uuid4().hex, None)
    transaction.on_commit(lambda: cache.set(PRICE_VERSION_KEY, uuid.uuid4().hex, None), robust=True)


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
    rows = _price_rows()
    if not audio:
        silent = rows.get((operation, model_tier, resolution, False))
        if silent is not None:
            if not silent[2]:
                raise PriceNotFound(
                    f"{operation} {model_tier} {resolution} silent is not available"
                )
            return silent[0], silent[1]
        flat, per_second = price_rate(
            operation=operation, model_tier=model_tier, resolution=resolution
        )
        percent = int(settings.BILLING_SILENT_PRICE_PERCENT)
        return -(-flat * percent // 100), -(-per_second * percent // 100)
    row = rows.get((operation, model_tier, resolution, True))
    if row is not None:
        if not row[2]:
            raise PriceNotFound(f"{operation} {model_tier} {resolution} is not available")
        return row[0], row[1]
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
