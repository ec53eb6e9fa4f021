"""API key policies on the product: which models, resolutions and durations a key may use,
checked before anything is held, and changing a key's settings with the product vocabulary
validated (accounts.services.api_key_limits_set writes and audits).

A model allow-list names the capability catalog's model ids (`GET /api/v1/models`, e.g.
`veo-3.1-fast-generate-001`; `<provider>-<tier>` for our own renderers). The tier names of
billing.catalog (`quality`, `fast`, `lite`) that keys stored before are still accepted and
mapped when a job is checked (no data migration: a tier keeps meaning "whatever model runs that
tier now"). `key_models_validate` is the one place that decides what a valid entry is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from accounts.models import ApiKey, User
from accounts.services import (
    ApiKeyLimitsInvalid,
    CreatedApiKey,
    api_key_create,
    api_key_limits_clean,
    api_key_limits_set,
)
from billing.catalog import DURATIONS, RESOLUTIONS, TIERS
from generation.errors import KeyLimitRefused
from generation.providers import provider_name_for
from generation.providers.catalog import model_spec, models_for_tiers


def key_model_choices() -> list[tuple[str, list[str]]]:
    """The model ids a key may be limited to, in catalog order, each with the tiers it runs
    (one model may serve several tiers, e.g. Omni)."""
    choices: dict[str, list[str]] = {}
    for spec in models_for_tiers():
        choices.setdefault(spec.id, []).append(spec.tier)
    return list(choices.items())


def key_models_validate(*, models: Any) -> list[str]:
    """A key's model allow-list, cleaned: catalog model ids (or the older tier names), no
    duplicates, in catalog order. Raises ApiKeyLimitsInvalid naming `allowed_models` and the
    valid ids."""
    if models is None:
        return []
    if not isinstance(models, list | tuple) or not all(isinstance(m, str) for m in models):
        raise ApiKeyLimitsInvalid("allowed_models", "must be a list of model ids")
    names = {m.strip().lower() for m in models if m.strip()}
    ids = [model_id for model_id, _tiers in key_model_choices()]
    known = [*ids, *(t for t in TIERS if t not in ids)]
    unknown = sorted(names - set(known))
    if unknown:
        raise ApiKeyLimitsInvalid(
            "allowed_models",
            f"unknown model {unknown[0]!r}; one of {', '.join(ids)} (see GET /api/v1/models)",
        )
    return [name for name in known if name in names]


def key_models_as_ids(models: list[str]) -> list[str]:
    """A stored allow-list in today's catalog ids (older tier names mapped), for forms."""
    tiers = {tier: model_id for model_id, served in key_model_choices() for tier in served}
    return list(dict.fromkeys(tiers.get(name, name) for name in models))


def _resolution_clean(value: Any) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or value.strip().lower() not in RESOLUTIONS:
        raise ApiKeyLimitsInvalid("max_resolution", f"must be one of {', '.join(RESOLUTIONS)}")
    return value.strip().lower()


def _product_clean(changes: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(changes)
    if "allowed_models" in cleaned:
        cleaned["allowed_models"] = key_models_validate(models=cleaned["allowed_models"])
    if "max_resolution" in cleaned:
        cleaned["max_resolution"] = _resolution_clean(cleaned["max_resolution"])
    seconds = cleaned.get("max_seconds")
    if (
        isinstance(seconds, int)
        and not isinstance(seconds, bool)
        and not min(DURATIONS) <= seconds <= max(DURATIONS)
    ):
        raise ApiKeyLimitsInvalid(
            "max_seconds", f"must be between {min(DURATIONS)} and {max(DURATIONS)}"
        )
    return cleaned


def api_key_settings_validate(*, changes: dict[str, Any]) -> dict[str, Any]:
    """The changes as `api_key_settings_update` would apply them, checked, nothing written
    (for forms that show errors next to fields). Raises ApiKeyLimitsInvalid."""
    return api_key_limits_clean(changes=_product_clean(changes))


def api_key_settings_update(
    *, api_key: ApiKey, changes: dict[str, Any], actor: User | None, via: str
) -> ApiKey:
    """Change a key's settings (accounts.models.LIMIT_FIELDS), product vocabulary checked
    here, the rest and the audit rows by `api_key_limits_set`. Raises ApiKeyLimitsInvalid."""
    return api_key_limits_set(
        api_key=api_key, changes=_product_clean(changes), actor=actor, via=via
    )


def api_key_issue(
    *,
    user: User,
    name: str,
    expires_at: datetime | None = None,
    limits: dict[str, Any] | None = None,
    actor: User | None = None,
    via: str,
) -> CreatedApiKey:
    """Create a key with its settings in one transaction (the raw token is returned once)."""
    return api_key_create(
        user=user,
        name=name,
        expires_at=expires_at,
        limits=_product_clean(limits or {}),
        actor=actor,
        via=via,
    )


def job_key_limits_check(
    *, api_key: ApiKey, model_tier: str, resolution: str, duration_seconds: int
) -> None:
    """Refuse a job the key may not submit (model, resolution, seconds), naming the field;
    called by job_submit before anything is held."""
    allowed = api_key.allowed_models or []
    if allowed and model_tier not in allowed:
        model_id = model_spec(provider=provider_name_for(model_tier=model_tier), tier=model_tier).id
        if model_id not in allowed:
            raise KeyLimitRefused(
                "model",
                f"{model_id} is not allowed for this API key "
                f"(allowed: {', '.join(key_models_as_ids(allowed))})",
            )
    ceiling = api_key.max_resolution
    if (
        ceiling in RESOLUTIONS
        and resolution in RESOLUTIONS
        and RESOLUTIONS.index(resolution) > RESOLUTIONS.index(ceiling)
    ):
        raise KeyLimitRefused("resolution", f"this API key allows at most {ceiling}")
    if api_key.max_seconds is not None and duration_seconds > api_key.max_seconds:
        raise KeyLimitRefused(
            "duration", f"this API key allows at most {api_key.max_seconds} seconds"
        )
