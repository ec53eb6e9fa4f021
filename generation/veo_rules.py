"""Veo 3.1's coupled request constraints, checked before any credit is held.

Pure functions, no SDK and no database: facades and `job_submit` call `veo_validate` while they
parse a request, so a request Google would refuse never reserves credits and never reaches the
provider. `generation.providers.gemini` calls it again as a last guard.

Source: the parameter table of https://ai.google.dev/gemini-api/docs/video ("Generate videos
with Veo 3.1 in Gemini API"):

- `durationSeconds` is 4, 6 or 8, and **must be 8** with 1080p, 4k, reference images or
  extension;
- `resolution` is 720p, 1080p or 4k; extension takes **720p only**; the Lite model has no 4k;
- `aspectRatio` is 16:9 or 9:16;
- at most 3 reference images (Veo 3.1 only);
- `lastFrame` needs `image` (our "first_last" mode carries exactly two images);
- extension needs the video of an earlier Veo generation.

Limits Google checks that we cannot see here (extension source ≤ 141 s and generated in the
last 2 days, `personGeneration` per region) are left to the upstream answer.
"""

from __future__ import annotations

from billing.catalog import ASPECT_RATIOS, DURATIONS, RESOLUTIONS, TIERS, Resolution, Tier

VEO_MODES = ("text", "image", "first_last", "reference", "extend")
# Our product vocabulary is Veo's: every tier, aspect ratio, resolution and duration we sell.
VEO_MODEL_TIERS = TIERS
VEO_ASPECT_RATIOS = ASPECT_RATIOS
VEO_RESOLUTIONS = RESOLUTIONS
VEO_DURATIONS = DURATIONS
VEO_MAX_REFERENCE_IMAGES = 3
# Resolutions and modes that only exist as 8-second clips.
_EIGHT_SECONDS_ONLY_RESOLUTIONS = (Resolution.P1080.value, Resolution.K4.value)
_EIGHT_SECONDS_ONLY_MODES = ("reference", "extend")


class VeoConstraintError(ValueError):
    """A request Veo would refuse. `field` names the offending input, `message` says why,
    worded to follow the field's name ("duration must be 8 seconds for 1080p videos")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def veo_validate(
    *,
    mode: str,
    model_tier: str,
    resolution: str,
    duration_seconds: int,
    aspect_ratio: str,
    image_count: int,
    has_source_video: bool,
) -> None:
    """Raise `VeoConstraintError` unless Veo 3.1 accepts this combination.

    `aspect_ratio` must already be resolved (never "auto"). Mode "upscale" is not a Veo
    operation and is refused here; the pipeline serves it elsewhere.
    """
    if mode not in VEO_MODES:
        raise VeoConstraintError("mode", f"{mode!r} is not a Veo operation")
    if model_tier not in VEO_MODEL_TIERS:
        raise VeoConstraintError("model_tier", f"{model_tier!r} is not a model tier")
    if aspect_ratio not in VEO_ASPECT_RATIOS:
        raise VeoConstraintError("aspect_ratio", "must be 16:9 or 9:16")
    if resolution not in VEO_RESOLUTIONS:
        raise VeoConstraintError("resolution", "must be 720p, 1080p or 4k")
    if duration_seconds not in VEO_DURATIONS:
        raise VeoConstraintError("duration_seconds", "must be 4, 6 or 8 seconds")
    if model_tier == Tier.LITE and resolution == Resolution.K4:
        raise VeoConstraintError("resolution", "4k is not available for the lite model")

    _validate_inputs(mode=mode, image_count=image_count, has_source_video=has_source_video)

    if mode == "extend" and resolution != Resolution.P720:
        raise VeoConstraintError("resolution", "must be 720p for video extension")
    if duration_seconds != 8:
        if resolution in _EIGHT_SECONDS_ONLY_RESOLUTIONS:
            raise VeoConstraintError(
                "duration_seconds", f"must be 8 seconds for {resolution} videos"
            )
        if mode in _EIGHT_SECONDS_ONLY_MODES:
            what = "reference images" if mode == "reference" else "video extension"
            raise VeoConstraintError("duration_seconds", f"must be 8 seconds for {what}")


def _validate_inputs(*, mode: str, image_count: int, has_source_video: bool) -> None:
    """Each mode takes a fixed kind and number of inputs."""
    if mode != "extend" and has_source_video:
        raise VeoConstraintError("source_video", f"is not taken by mode {mode!r}")
    if mode in ("text", "extend") and image_count:
        raise VeoConstraintError("images", f"are not taken by mode {mode!r}")
    if mode == "image" and image_count != 1:
        raise VeoConstraintError("images", "must be exactly one image for image-to-video")
    if mode == "first_last" and image_count != 2:
        raise VeoConstraintError(
            "images", "must be exactly two images for first and last frame mode"
        )
    if mode == "reference" and not 1 <= image_count <= VEO_MAX_REFERENCE_IMAGES:
        raise VeoConstraintError(
            "images", f"must be 1 to {VEO_MAX_REFERENCE_IMAGES} images for reference mode"
        )
    if mode == "extend" and not has_source_video:
        raise VeoConstraintError("source_video", "is required for video extension")
