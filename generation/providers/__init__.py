"""Provider registry: names to classes, chosen per model tier in settings."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings

from generation.providers.base import VideoProvider

_REGISTRY = {
    "local": "generation.providers.local.LocalProvider",
    "vertex": "generation.providers.vertex.VertexProvider",
    "omni": "generation.providers.omni.OmniProvider",
    "scripted": "generation.providers.scripted.ScriptedProvider",
}


def provider_get(name: str) -> VideoProvider:
    try:
        module_name, class_name = _REGISTRY[name].rsplit(".", 1)
    except KeyError as exc:
        raise LookupError(f"unknown generation provider {name!r}") from exc
    return getattr(import_module(module_name), class_name)()


def provider_name_for(*, model_tier: str) -> str:
    return settings.GENERATION_PROVIDERS_BY_TIER.get(model_tier, settings.GENERATION_PROVIDER)
