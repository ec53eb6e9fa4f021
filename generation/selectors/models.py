"""What `GET /api/v1/models` publishes: each tier's model, its capabilities and its prices."""

from __future__ import annotations

from typing import Any

from billing.catalog import Operation
from billing.errors import PriceNotFound
from billing.services import price_rate
from generation.providers.catalog import (
    CATALOG_CHECKED_ON,
    EXTEND_SECONDS,
    ModelSpec,
    models_for_tiers,
)


def _price(
    spec: ModelSpec, *, operation: str, resolution: str, durations: list[int]
) -> dict[str, Any] | None:
    """`flat_credits` + `credits_per_second` * seconds, `credits` for each of `durations`, and
    `without_audio` (the silent rate) when the model can be silent; None without a price."""
    try:
        flat, per_second = price_rate(
            operation=operation, model_tier=spec.tier, resolution=resolution
        )
    except PriceNotFound:
        return None
    entry: dict[str, Any] = {
        "flat_credits": flat,
        "credits_per_second": per_second,
        "credits": {str(d): flat + per_second * d for d in durations},
    }
    if spec.audio_optional:
        try:
            silent_flat, silent_per_second = price_rate(
                operation=operation, model_tier=spec.tier, resolution=resolution, audio=False
            )
        except PriceNotFound:
            return entry
        entry["without_audio"] = {
            "flat_credits": silent_flat,
            "credits_per_second": silent_per_second,
        }
    return entry


def models_published() -> dict[str, Any]:
    """The catalog of the providers configured now, with prices in credits.

    Per resolution: `flat_credits` + `credits_per_second` * seconds (the price table, else the
    defaults), and `credits` for each duration the model accepts there. A resolution with no
    active price is left out of `prices` (submit refuses it). Models that extend videos also
    list `extend_prices` per extension resolution (an extension is EXTEND_SECONDS long).
    """
    models = []
    for spec in models_for_tiers():
        prices: dict[str, Any] = {}
        longest = max(spec.durations)
        for resolution in spec.resolutions:
            durations = [
                d
                for d in spec.durations
                if d == longest or resolution not in spec.longest_only_resolutions
            ]
            entry = _price(
                spec, operation=Operation.GENERATE, resolution=resolution, durations=durations
            )
            if entry is not None:
                prices[resolution] = entry
        extend_prices: dict[str, Any] = {}
        if "extend" in spec.modes:
            for resolution in spec.extend_resolutions or spec.resolutions:
                entry = _price(
                    spec,
                    operation=Operation.EXTEND,
                    resolution=resolution,
                    durations=[EXTEND_SECONDS],
                )
                if entry is not None:
                    extend_prices[resolution] = entry
        models.append({**spec.as_dict(), "prices": prices, "extend_prices": extend_prices})
    return {"checked_on": CATALOG_CHECKED_ON, "models": models}
