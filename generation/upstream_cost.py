"""The estimated upstream cost of a result: seconds billed x a configurable rate per second.

UPSTREAM_COST_PER_SECOND_USD maps `"<model>:<resolution>"` (or `"<model>"` for every
resolution; `"<model>:<resolution>:silent"` for a video without audio) to US dollars per
second of output. The defaults (veosaas/settings.py) were re-checked on 2026-12-07 and are
still third-party figures: Google's pricing pages could not be read, so none is verified
against Google. They are pointers to verify, overridable without a release (a JSON object in
the environment variable of the same name).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings


def upstream_rate(*, model: str, resolution: str, audio: bool = True) -> Decimal | None:
    """`"<model>:<resolution>:silent"` first for a video without audio, then as with audio."""
    rates: dict[str, float] = settings.UPSTREAM_COST_PER_SECOND_USD
    rate = None if audio else rates.get(f"{model}:{resolution}:silent")
    if rate is None:
        rate = rates.get(f"{model}:{resolution}", rates.get(model))
    return None if rate is None else Decimal(str(rate))


def upstream_cost(
    *, model: str, resolution: str, seconds: float, audio: bool = True
) -> Decimal | None:
    """Dollars for `seconds` of `model` at `resolution` (4 decimals); None without a rate."""
    rate = upstream_rate(model=model, resolution=resolution, audio=audio)
    if rate is None or not model:
        return None
    return (rate * Decimal(str(seconds))).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
