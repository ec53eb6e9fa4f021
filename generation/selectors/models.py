"""What `GET /api/v1/models` publishes: each tier's model, its capabilities and its prices."""

from __future__ import annotations

from typing import Any

from billing.catalog import Operation
from billing.errors import PriceNotFound
from billing.services import price_rate
from generation.providers.catalog import CATALOG_CHECKED_ON, models_for_tiers


def models_published() -> dict[str, Any]:
    """The catalog of the providers configured now, with prices in credits.

    Per resolution: `flat_credits` + `credits_per_second` * seconds (the price table, else the
    defaults), and `credits` for each duration the model accepts there. A resolution with no
    active price is left out of `prices` (submit refuses it).
    """
    models = []
    for spec in models_for_tiers():
        prices: dict[str, Any] = {}
        longest = max(spec.durations)
        for resolution in spec.resolutions:
            try:
                flat, per_second = price_rate(
                    operation=Operation.GENERATE, model_tier=spec.tier, resolution=resolution
                )
            except PriceNotFound:
                continue
            durations = [
                d
                for d in spec.durations
                if d == longest or resolution not in spec.longest_only_resolutions
            ]
            prices[resolution] = {
                "flat_credits": flat,
                "credits_per_second": per_second,
                "credits": {str(d): flat + per_second * d for d in durations},
            }
            if spec.audio_optional:
                try:
                    silent_flat, silent_per_second = price_rate(
                        operation=Operation.GENERATE,
                        model_tier=spec.tier,
                        resolution=resolution,
                        audio=False,
                    )
                except PriceNotFound:
                    continue
                prices[resolution]["without_audio"] = {
                    "flat_credits": silent_flat,
                    "credits_per_second": silent_per_second,
                }
        models.append({**spec.as_dict(), "prices": prices})
    return {"checked_on": CATALOG_CHECKED_ON, "models": models}
