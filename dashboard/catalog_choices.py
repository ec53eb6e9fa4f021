"""The new-video form's model, duration and resolution choices and each model's capabilities,
server-rendered from `models_published` (the code `GET /api/v1/models` answers with), so the
form and the API cannot disagree."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from billing.catalog import RESOLUTIONS, Tier
from generation.selectors.models import models_published

CAPABILITY_KEYS = ("id", "tier", "durations", "resolutions", "audio", "audio_optional", "modes")


def catalog_models() -> list[dict[str, Any]]:
    """Each model's capabilities as the API publishes them (the keys the form uses)."""
    return [{k: m[k] for k in CAPABILITY_KEYS} for m in models_published()["models"]]


def model_choices(models: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["tier"], f"{Tier(m['tier']).label} — {m['id']}") for m in models]


def duration_choices(models: list[dict[str, Any]]) -> list[tuple[int, str]]:
    seconds = sorted({d for m in models for d in m["durations"]})
    return [(d, _("%(seconds)d seconds") % {"seconds": d}) for d in seconds]


def resolution_choices(models: list[dict[str, Any]]) -> list[tuple[str, str]]:
    offered = {r for m in models for r in m["resolutions"]}
    return [(r, r.upper() if r == "4k" else r) for r in RESOLUTIONS if r in offered]
