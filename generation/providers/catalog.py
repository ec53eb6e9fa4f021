"""The capability catalog: each provider's models and what each of them accepts.

Pure data and pure functions (no SDK, no database), so facades, `job_validate`, the price
check and `GET /api/v1/models` all read the same table without importing a provider. A job's
inputs are checked against the entry of the provider that will run it
(`GENERATION_PROVIDER[_<TIER>]`), before any credit is held.

What was checked about Google's current state, and when (re-checked 2026-12-07 against the
copies of Google's pages that could be read; "[3rd]" marks what only third parties state; a
summary is in docs/ARCHITECTURE.md §4):

- Gemini Developer API: Google's changelog (2026-06-15) shut Veo 2 / 3.0 down on 2026-06-30
  and pointed to the `veo-3.1-*-preview` ids or to the 3.1 GA models on Vertex (Agent
  Platform). The shutdown of `veo-3.1-generate-preview`, `-fast-` and `-lite-` on 2026-10-22
  (404 "is no longer available", replacement `gemini-omni-1.1-flash`) is stated by resellers
  citing Google's deprecations page [3rd]; the copies of that page we could read predate it,
  so that date is not verified against Google itself. google-genai 3.x refuses
  `generate_videos` outside Vertex mode, so there is no Developer-API Veo provider.
- Vertex AI: Google's Veo 2 / 3.0 model pages retire `veo-2.0-*`, `veo-3.0-*-001` on
  2026-06-30 and name `veo-3.1-generate-001` / `veo-3.1-fast-generate-001` as their
  replacements (GA 2025-11-17; earliest retirement 2027-05-04 [3rd]);
  `veo-3.1-lite-generate-001` is preview. Durations 4/6/8 s; 1080p, 4k, reference images and
  extension need 8 s; extension is 720p; the lite model has no 4k; aspect ratios 16:9 and
  9:16; up to 3 asset reference images; `generateAudio` may be switched off; `seed` is
  honoured; `personGeneration` takes allow_adult (Google's default), dont_allow and
  allow_all. With input images we take only allow_adult / dont_allow: Veo 3.1's docs, as
  quoted in a thread on Google's developer forum, give allow_all for text and extension and
  allow_adult for image input (not verified on a Google page; the per-mode rule is ours).
- Gemini Omni Flash on the Interactions API (Gemini API key, and Vertex): Google's video page
  makes Omni the default video model. `gemini-omni-1.2-flash` (GA 2026-11-05 [3rd]; 3-15 s,
  up to 6 reference images, extension to 30 s) and `gemini-omni-1.1-flash` (GA 2026-08-27
  [3rd]; 3-10 s, up to 3); `gemini-omni-flash-preview` was shut down on 2026-09-30 [3rd].
  Resolutions 360p/720p/1080p/4k, aspect ratios 16:9 and 9:16, tasks text/image/reference to
  video, extend, upscale (no first+last frame); no negative prompt and no seed parameter.
  google-genai 3.6.x's Interactions types have no person generation and no audio switch
  (`response_format`: aspect_ratio, duration, resolution, delivery, gcs_uri;
  `video_config`: task), so Omni always has sound and takes no person generation setting.
  Billed on the seconds actually delivered. Statuses: queued, in_progress, requires_action,
  completed, failed, cancelled, incomplete, budget_exceeded, requires_continuation; a cancel
  endpoint exists. google-genai 3.6.1 lists no Veo id in its Interactions model enum.
- Prices per second: Google's pricing pages could not be read; the upstream rates
  (UPSTREAM_COST_PER_SECOND_USD, generation/upstream_cost.py) are third-party figures.

Upstream ids are settings (`VERTEX_MODEL_QUALITY` …), read when a spec is built, so a rename
needs no release.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from billing.catalog import ASPECT_RATIOS, TIERS, Resolution, Tier

CATALOG_CHECKED_ON = "2026-12-07"

VEO_DURATIONS = (4, 6, 8)
# The length of one extension (Veo's rule; our extend endpoint asks every model for it).
EXTEND_SECONDS = 8
VEO_RESOLUTIONS = (Resolution.P720.value, Resolution.P1080.value, Resolution.K4.value)

MODES = ("text", "image", "first_last", "reference", "extend", "upscale")
# Veo's `personGeneration` values: adults only, no people at all, adults and children.
PERSON_GENERATION = ("allow_adult", "dont_allow", "allow_all")
_IMAGE_MODES = ("image", "first_last", "reference")
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
    # The `person_generation` values the model takes (empty: it has no such setting), and those
    # it takes when the job has input images (Google does not take `allow_all` with them).
    person_generation: tuple[str, ...] = ()
    person_generation_with_images: tuple[str, ...] = ()
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
            "person_generation": list(self.person_generation),
            "person_generation_with_images": list(self.person_generation_with_images),
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
        person_generation=PERSON_GENERATION,
        person_generation_with_images=("allow_adult", "dont_allow"),
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
    person_generation: str = "",
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
    _person_generation_check(spec, mode, person_generation)
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


def _person_generation_check(spec: ModelSpec, mode: str, value: str) -> None:
    """ "" (the model's default) always passes; otherwise a value this model takes in `mode`."""
    if not value:
        return
    if not spec.person_generation:
        raise CapabilityError(
            "person_generation",
            f"is not supported: the {spec.tier} model ({spec.provider}) has no person "
            "generation setting",
        )
    with_images = mode in _IMAGE_MODES
    allowed = spec.person_generation_with_images if with_images else spec.person_generation
    if value not in allowed:
        raise CapabilityError(
            "person_generation",
            f"must be one of {_allowed(allowed)}"
            + (f" for mode {mode!r} (input images)" if with_images else ""),
        )
