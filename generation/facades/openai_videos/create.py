"""Making videos on `/v1/videos`: create (multipart as the SDK sends it, or JSON), remix and
extensions. Each goes through the one submit path (`job_submit` / `extend_submit`): the same
validation from the capability catalog, price, hold, idempotency and enqueue as every facade.

Request fields (multipart fields, form fields or JSON members):
- `prompt` (required), `model` (`veo-3.1`, `veo-3.1-fast`, `veo-3.1-lite`, or a tier name),
  `seconds` ("4", "6", "8", ... as a string or a number), `size` ("1280x720", "720x1280",
  "1920x1080", "1080x1920", "3840x2160", "2160x3840", "640x360", "360x640");
- `input_reference`: an uploaded file, or `{image_url}` / `{file_id}` (an `img_<hex>` key of
  our uploads); extras: `last_frame` and `reference_images` (the same forms), `negative_prompt`,
  `seed`, `audio` (true/false), `person_generation`, `callback_url`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from typing import Any, BinaryIO, cast

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from accounts.models import User
from accounts.typing import AuthenticatedRequest
from billing.catalog import DEFAULT_DURATION, DEFAULT_RESOLUTION, DEFAULT_TIER, DURATIONS, TIERS
from generation import images
from generation.facades.common import (
    FieldError,
    idempotency_key,
    optional_bool,
    optional_int,
    optional_str,
    required_str,
    strict_int,
)
from generation.facades.openai_videos.shapes import MODEL_IDS, SIZES, video_id
from generation.models import Job, Upload
from generation.providers.catalog import models_for_tiers
from generation.selectors import job_get_by_idempotency_key, upload_get_by_key
from generation.services import (
    ImageInput,
    JobSpec,
    Submitted,
    extend_submit,
    job_submit,
    upload_create,
    upload_discard,
)

MAX_REFERENCES = 3
EXTEND_SECONDS = 8


def parse_model(body: dict[str, Any], default: str = DEFAULT_TIER) -> str:
    """The tier behind `model`: one of MODEL_IDS, or a tier name."""
    value = optional_str(body, "model", max_length=80)
    if not value:
        return default
    if value in MODEL_IDS:
        return MODEL_IDS[value]
    if value in TIERS:
        return value
    # The upstream id of a tier's model as configured now (GET /api/v1/models), when only one
    # tier runs it.
    upstream = [spec.tier for spec in models_for_tiers() if spec.model_id == value]
    if len(upstream) == 1:
        return upstream[0]
    raise FieldError("model", f"must be one of {', '.join(MODEL_IDS)}")


def parse_seconds(body: dict[str, Any], default: int = DEFAULT_DURATION) -> int:
    value = body.get("seconds")
    if value is None or value == "":
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    seconds = strict_int("seconds", value)
    if seconds not in DURATIONS:
        raise FieldError("seconds", f"must be between {DURATIONS[0]} and {DURATIONS[-1]}")
    return seconds


def parse_size(body: dict[str, Any], *, has_image: bool) -> tuple[str, str]:
    """(aspect ratio, resolution) of `size`; without one, 720p in the input image's aspect
    ratio ("auto") or 16:9."""
    value = optional_str(body, "size", max_length=20).lower()
    if not value:
        return ("auto" if has_image else "16:9"), DEFAULT_RESOLUTION
    if value not in SIZES:
        raise FieldError("size", f"must be one of {', '.join(SIZES)}")
    return SIZES[value]


def _image(user: User, field: str, value: Any) -> ImageInput:
    """One image given as a URL, an `img_<hex>` key, `{image_url}` or `{file_id}`."""
    if isinstance(value, dict):
        url, file_id = value.get("image_url"), value.get("file_id")
        if url not in (None, "") and file_id not in (None, ""):
            raise FieldError(field, "takes image_url or file_id, not both")
        if file_id not in (None, ""):
            key = optional_str(value, "file_id", max_length=100)
            upload = upload_get_by_key(user=user, key=key)
            if upload is None:
                raise FieldError(f"{field}.file_id", "does not name an image you uploaded")
            return ImageInput(upload_id=upload.id)
        return ImageInput(url=required_str(value, "image_url", max_length=2048))
    if not isinstance(value, str) or not value.strip():
        raise FieldError(field, "must be an image URL, {image_url} or {file_id}")
    text = value.strip()
    if text.startswith("img_"):
        return _image(user, field, {"file_id": text})
    return _image(user, field, {"image_url": text})


def _references(user: User, body: dict[str, Any]) -> list[ImageInput]:
    value = body.get("reference_images")
    if value in (None, "", []):
        return []
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_REFERENCES:
        raise FieldError("reference_images", f"must have at most {MAX_REFERENCES} images")
    return [_image(user, f"reference_images[{i}]", item) for i, item in enumerate(items)]


def _file_digest(upload: UploadedFile) -> dict[str, Any]:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return {"sha256": digest.hexdigest(), "bytes": upload.size}


def submit_with_upload(
    request: AuthenticatedRequest, spec: JobSpec, file: UploadedFile | None, key: str | None
) -> Submitted:
    """`job_submit`, storing the uploaded `input_reference` first (the first image, before any
    last frame); a refused submit removes that upload again (a refusal leaves no row and no
    file). A retry of an accepted Idempotency-Key stores no second copy."""
    stored: Upload | None = None
    if file is not None and not (key and job_get_by_idempotency_key(user=request.user, key=key)):
        limit = settings.GENERATION_UPLOAD_MAX_BYTES
        if file.size is not None and file.size > limit:
            raise FieldError("input_reference", f"is larger than {limit // (1024 * 1024)} MB")
        try:
            stored = upload_create(
                user=request.user,
                source=cast(BinaryIO, file.file),
                file_name=file.name or "",
                max_bytes=limit,
            )
        except images.ImageRejected as exc:
            raise FieldError("input_reference", str(exc)) from exc
        first = ImageInput(upload_id=stored.id)
        spec = dataclasses.replace(spec, images=(first, *spec.images))
    try:
        submitted = job_submit(
            user=request.user, spec=spec, api_key=request.auth, idempotency_key=key
        )
    except BaseException:
        if stored is not None:
            upload_discard(upload=stored)
        raise
    if stored is not None and submitted.replayed:
        upload_discard(upload=stored)
    return submitted


def video_create(request: AuthenticatedRequest, body: dict[str, Any]) -> Job:
    """POST /v1/videos."""
    user = request.user
    prompt = required_str(body, "prompt", max_length=settings.GENERATION_PROMPT_MAX_CHARS)
    tier = parse_model(body)
    seconds = parse_seconds(body)
    file = request.FILES.get("input_reference")
    first: ImageInput | None = None
    if file is None and body.get("input_reference") not in (None, ""):
        first = _image(user, "input_reference", body["input_reference"])
    last_value = body.get("last_frame")
    last = _image(user, "last_frame", last_value) if last_value not in (None, "") else None
    references = _references(user, body)
    has_first = file is not None or first is not None
    if references and (has_first or last):
        raise FieldError("reference_images", "cannot be combined with input_reference/last_frame")
    if last is not None and not has_first:
        raise FieldError("last_frame", "needs input_reference (the first frame)")
    aspect, resolution = parse_size(body, has_image=has_first or bool(references))
    raw: dict[str, Any] = {
        "prompt": prompt,
        "model": tier,
        "seconds": seconds,
        "size": body.get("size") or None,
    }
    inputs: list[ImageInput] = []
    if first is not None:
        inputs.append(first)
    if last is not None:
        inputs.append(last)
    inputs += references
    mode = Job.Mode.REFERENCE if references else None
    negative_prompt = optional_str(body, "negative_prompt", max_length=2000)
    seed = optional_int(body, "seed")
    audio = optional_bool(body, "audio", True)
    callback_url = optional_str(body, "callback_url", max_length=2048)
    person_generation = optional_str(body, "person_generation", max_length=40)
    extras: dict[str, Any] = {
        "person_generation": person_generation,
        "negative_prompt": negative_prompt,
        "seed": seed,
        "audio": audio,
        "callback_url": callback_url,
    }
    raw.update({k: v for k, v in extras.items() if v not in (None, "")})
    raw["images"] = [
        {"upload": str(i.upload_id)} if i.upload_id else {"url": i.url} for i in inputs
    ]
    if file is not None:
        raw["input_reference"] = _file_digest(file)
    spec = JobSpec(
        facade=Job.Facade.OPENAI,
        prompt=prompt,
        mode=mode,
        model_tier=tier,
        aspect_ratio=aspect,
        resolution=resolution,
        duration_seconds=seconds,
        seed=seed,
        images=tuple(inputs),
        negative_prompt=negative_prompt,
        generate_audio=audio,
        callback_url=callback_url,
        person_generation=person_generation,
        raw_request=raw,
    )
    return submit_with_upload(request, spec, file, idempotency_key(request)).job


def _source_images(job: Job) -> tuple[ImageInput, ...]:
    return tuple(
        ImageInput(upload_id=uuid.UUID(ref["upload"]))
        if "upload" in ref
        else ImageInput(url=ref["url"])
        for ref in job.image_refs or []
    )


def video_remix(request: AuthenticatedRequest, source: Job, body: dict[str, Any]) -> Job:
    """POST /v1/videos/{id}/remix: the source's inputs (images, model, size, seconds, seed,
    negative prompt, audio) with a new prompt; `remixed_from_video_id` names the source."""
    prompt = required_str(body, "prompt", max_length=settings.GENERATION_PROMPT_MAX_CHARS)
    if source.kind != Job.Kind.GENERATE:
        raise FieldError("video_id", "must name a generated video (not an extension or upgrade)")
    callback = optional_str(body, "callback_url", max_length=2048) or source.callback_url
    spec = JobSpec(
        facade=Job.Facade.OPENAI,
        prompt=prompt,
        mode=source.mode,
        model_tier=source.model_tier,
        aspect_ratio=source.aspect_ratio,
        resolution=source.resolution,
        duration_seconds=source.duration_seconds,
        seed=source.seed,
        images=_source_images(source),
        negative_prompt=source.negative_prompt,
        generate_audio=source.generate_audio,
        watermark=source.watermark,
        person_generation=source.person_generation,
        callback_url=callback,
        raw_request={"remix_of": video_id(source.id), "prompt": prompt, "callback_url": callback},
        remixed_from_id=source.id,
    )
    key = idempotency_key(request)
    return job_submit(user=request.user, spec=spec, api_key=request.auth, idempotency_key=key).job


def extension_source_id(request: AuthenticatedRequest, body: dict[str, Any]) -> str:
    """The id in `video` ({id} as JSON or `video[id]` multipart; a bare id string too)."""
    if "video" in request.FILES:
        raise FieldError("video", "must reference a completed video by id ({id}), not a file")
    value = body.get("video")
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str) or not value.strip():
        raise FieldError("video", "is required: {id} of the completed video to extend")
    return value.strip()


def video_extend(request: AuthenticatedRequest, source: Job, body: dict[str, Any]) -> Job:
    """POST /v1/videos/extensions: `extend_submit` (8 more seconds of a completed 720p video,
    priced as an extension)."""
    prompt = required_str(body, "prompt", max_length=settings.GENERATION_PROMPT_MAX_CHARS)
    seconds = parse_seconds(body, default=EXTEND_SECONDS)
    if seconds != EXTEND_SECONDS:
        raise FieldError("seconds", f"must be {EXTEND_SECONDS}: an extension adds 8 seconds")
    tier = parse_model(body, default=source.model_tier)
    seed = optional_int(body, "seed")
    callback = optional_str(body, "callback_url", max_length=2048)
    raw = {"video": video_id(source.id), "prompt": prompt, "seconds": seconds, "model": tier}
    if seed is not None:
        raw["seed"] = seed
    if callback:
        raw["callback_url"] = callback
    return extend_submit(
        user=request.user,
        parent=source,
        prompt=prompt,
        model_tier=tier,
        seed=seed,
        callback_url=callback,
        raw_request=raw,
        api_key=request.auth,
        idempotency_key=idempotency_key(request),
        facade=Job.Facade.OPENAI,
    ).job
