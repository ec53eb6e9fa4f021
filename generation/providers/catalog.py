"""The capability catalog: each provider's models and what each of them accepts.

Pure data and pure functions (no SDK, no database), so facades, `job_validate`, the price
check and `GET /api/v1/models` all read the same table without importing a provider. A job's
inputs are checked against the entry of the provider that will run it
(`GENERATION_PROVIDER[_<TIER>]`), before any credit is held.

What was verified about Google's current state, and when (2026-12-07; sources:
ai.google.dev/gemini-api/docs/video and /docs/deprecations, the Vertex AI Veo 3.1 model
pages, google-genai 3.6.1 source; summary in docs/ARCHITECTURE.md §4):

- Gemini Developer API: `veo-3.1-generate-preview`, `-fast-`, `-lite-` were shut down on
  2026-10-22 (404 "no longer available"); Veo 2 / 3.0 ids were gone by 2026-07. No Veo id is
  served there any more, and google-genai 3.x refuses `generate_videos` outside Vertex mode,
  so there is no Developer-API Veo provider.
- Vertex AI: `veo-3.1-generate-001` and `veo-3.1-fast-generate-001` are GA (2025-11-17, no
  retirement date); `veo-3.1-lite-generate-001` is listed as preview. Durations 4/6/8 s;
  1080p, 4k, reference images and extension need 8 s; extension is 720p; the lite model has
  no 4k; aspect ratios 16:9 and 9:16; up to 3 asset reference images; `generateAudio` may be
  switched off; `seed` is honoured.

- Gemini Omni Flash on the Interactions API (Gemini API key, and Vertex): `gemini-omni-1.2-flash`
  (GA 2026-11-05; 3-15 s, up to 6 reference images) and `gemini-omni-1.1-flash` (GA
  2026-08-27; 3-10 s, up to 3); `gemini-omni-flash-preview` was shut down on 2026-09-30.
  Resolutions 360p/720p/1080p/4k, aspect ratios 16:9 and 9:16, tasks text/image/reference to
  video, extend, upscale (no first+last frame); no negative prompt and no seed parameter.
  Billed on the seconds actually delivered. Statuses: queued, in_progress, requires_action,
  completed, failed, cancelled, incomplete, budget_exceeded, requires_continuation; a cancel
  endpoint exists. google-genai 3.6.1 lists no Veo id in its Interactions model enum.

Upstream ids are settings (`VERTEX_MODEL_QUALITY` …), read when a spec is built, so a rename
needs no release.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from billing.catalog import ASPECT_RATIOS, TIERS, Resolution, Tier

CATALOG_CHECKED_ON = "2026-12-07"

VEO_DURATIONS = (4, 6, 8)
VEO_RESOLUTIONS = (Resolution.P720.value, Resolution.P1080.value, Resolution.K4.value)

MODES = ("text", "image", "first_last", "reference", "extend", "upscale")
# Images each mode takes: (at least, at most); "reference" is capped per model instead.
_IMAGES_PER_MODE = {
    "text": (0, 0),
    "image": (1, 1),
    "first_last": (2, 2),
    "extend": (0, 0),
    "upscale": (0, 0),
}


_SOURCE_VIDEO_MODES = ("extend", "upscale")


class CapabilityError(ValueError):
    """A request the model would refuse: `field` names the input, `message` what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ModelSpec:
    """What one model (behind one of our tiers, on one provider) accepts."""

    provider: str
    tier: str
    model_id: str  # the upstream id ("" for our own renderers)
    modes: tuple[str, ...]
    durations: tuple[int, ...]
    resolutions: tuple[str, ...]
    aspect_ratios: tuple[str, ...]
    audio: bool  # the model generates sound
    max_reference_images: int
    audio_optional: bool = False  # and it can be switched off (`generate_audio` false)
    seed: bool = True
    negative_prompt: bool = True
    # Resolutions and modes that exist only at the longest duration (Veo: 8 s).
    longest_only_resolutions: tuple[str, ...] = ()
    longest_only_modes: tuple[str, ...] = ()
    # Resolutions an extension may have (empty: every resolution of the model).
    extend_resolutions: tuple[str, ...] = ()
    # Upgrades (mode "upscale") of this tier's videos run on this provider upstream; otherwise
    # on GENERATION_UPSCALE_PROVIDER (our local re-encoder).
    upscales_upstream: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        """The model's public id (`GET /api/v1/models`, key allow-lists): the upstream id, or
        `<provider>-<tier>` for our own renderers, which have none."""
        return self.model_id or f"{self.provider}-{self.tier}"

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "tier": self.tier,
            "provider": self.provider,
            "upstream_model": self.model_id,
            "modes": list(self.modes),
            "durations": list(self.durations),
            "resolutions": list(self.resolutions),
            "aspect_ratios": list(self.aspect_ratios),
            "audio": self.audio,
            "audio_optional": self.audio_optional,
            "seed": self.seed,
            "negative_prompt": self.negative_prompt,
            "max_reference_images": self.max_reference_images,
            "longest_duration_only": {
                "resolutions": list(self.longest_only_resolutions),
                "modes": list(self.longest_only_modes),
            },
            "extend_resolutions": list(self.extend_resolutions or self.resolutions),
            "notes": list(self.notes),
        }


def _veo31(provider: str, tier: str, model_id: str, *, upscale: bool) -> ModelSpec:
    """Veo 3.1's rules (also those of our local renderers, so a rehearsal fails where
    production would)."""
    modes = ("text", "image", "first_last", "reference", "extend")
    return ModelSpec(
        provider=provider,
        tier=tier,
        model_id=model_id,
        modes=(*modes, "upscale") if upscale else modes,
        durations=VEO_DURATIONS,
        resolutions=tuple(
            r for r in VEO_RESOLUTIONS if not (tier == Tier.LITE and r == Resolution.K4)
        ),
        aspect_ratios=ASPECT_RATIOS,
        audio=True,
        audio_optional=True,
        max_reference_images=3,
        longest_only_resolutions=(Resolution.P1080.value, Resolution.K4.value),
        longest_only_modes=("reference", "extend"),
        extend_resolutions=(Resolution.P720.value,),
    )


def _omni(tier: str, model_id: str) -> ModelSpec:
    older = model_id.startswith("gemini-omni-1.1")
    return ModelSpec(
        provider="omni",
        tier=tier,
        model_id=model_id,
        modes=("text", "image", "reference", "extend", "upscale"),
        durations=tuple(range(3, 11 if older else 16)),
        resolutions=tuple(Resolution.values),
        aspect_ratios=ASPECT_RATIOS,
        audio=True,
        max_reference_images=3 if older else 6,
        seed=False,
        negative_prompt=False,
        upscales_upstream=True,
        notes=("billed on the seconds delivered: the maximum is held, the delivered captured",),
    )


def _vertex_model_id(tier: str) -> str:
    return str(getattr(settings, f"VERTEX_MODEL_{tier.upper()}", ""))


def model_spec(*, provider: str, tier: str) -> ModelSpec:
    """The catalog entry of `provider` for one of our tiers. Raises CapabilityError for an
    unknown tier and LookupError for a provider without a catalog."""
    if tier not in TIERS:
        raise CapabilityError("model_tier", f"must be one of {', '.join(TIERS)}")
    if provider == "vertex":
        return _veo31(provider, tier, _vertex_model_id(tier), upscale=False)
    if provider == "omni":
        return _omni(tier, str(settings.OMNI_MODEL))
    if provider in ("local", "scripted"):
        return _veo31(provider, tier, "", upscale=True)
    raise LookupError(f"generation provider {provider!r} has no catalog")


def models_for_tiers() -> list[ModelSpec]:
    """The model behind each tier with the providers configured now, in tier order."""
    from generation.providers import provider_name_for

    return [model_spec(provider=provider_name_for(model_tier=tier), tier=tier) for tier in TIERS]


def _allowed(values: tuple[object, ...]) -> str:
    return ", ".join(str(value) for value in values)


def spec_validate(
    spec: ModelSpec,
    *,
    mode: str,
    resolution: str,
    duration_seconds: int,
    aspect_ratio: str,
    image_count: int,
    has_source_video: bool,
    generate_audio: bool = True,
) -> None:
    """Raise CapabilityError unless `spec`'s model accepts this combination.

    `aspect_ratio` must be resolved (never "auto"). Every message names what is allowed.
    """
    if mode not in spec.modes:
        raise CapabilityError("mode", f"must be one of {_allowed(spec.modes)}")
    if aspect_ratio not in spec.aspect_ratios:
        raise CapabilityError("aspect_ratio", f"must be one of {_allowed(spec.aspect_ratios)}")
    if resolution not in spec.resolutions:
        raise CapabilityError(
            "resolution",
            f"must be one of {_allowed(spec.resolutions)}: the {spec.tier} model does not "
            f"render {resolution}",
        )
    if not generate_audio and not spec.audio_optional:
        raise CapabilityError(
            "generate_audio", f"cannot be off: the {spec.tier} model always generates audio"
        )
    if duration_seconds not in spec.durations:
        raise CapabilityError(
            "duration_seconds", f"must be one of {_allowed(spec.durations)} seconds"
        )
    if mode not in _SOURCE_VIDEO_MODES and has_source_video:
        raise CapabilityError("source_video", f"is not taken by mode {mode!r}")
    if mode in _SOURCE_VIDEO_MODES and not has_source_video:
        raise CapabilityError("source_video", f"is required for mode {mode!r}")
    low, high = _IMAGES_PER_MODE.get(mode, (1, spec.max_reference_images))
    if not low <= image_count <= high:
        wanted = str(low) if low == high else f"{low} to {high}"
        raise CapabilityError("images", f"must be {wanted} image(s) for mode {mode!r}")
    if mode == "extend" and spec.extend_resolutions and resolution not in spec.extend_resolutions:
        raise CapabilityError(
            "resolution", f"must be one of {_allowed(spec.extend_resolutions)} for video extension"
        )
    longest = max(spec.durations)
    if duration_seconds != longest:
        if resolution in spec.longest_only_resolutions:
            raise CapabilityError(
                "duration_seconds", f"must be {longest} seconds for {resolution} videos"
            )
        if mode in spec.longest_only_modes:
            what = "reference images" if mode == "reference" else "video extension"
            raise CapabilityError("duration_seconds", f"must be {longest} seconds for {what}")
