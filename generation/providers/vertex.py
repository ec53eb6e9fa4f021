"""Veo 3.1 on Vertex AI: the only module that imports `google.genai` for Vertex (and reads the
Cloud Storage objects Veo writes there).

Flow: `submit` starts a long-running operation (`POST {base}/{version}/[projects/{p}/locations/
{l}/]publishers/google/models/{model}:predictLongRunning`) and returns `Pending` with its name;
the pipeline calls `poll` from scheduled tasks (`POST …/models/{model}:fetchPredictOperation
{"operationName": …}`); when the operation is done the video is either inline
(`videos[].bytesBase64Encoded`) or, with `VERTEX_OUTPUT_GCS_URI`, a `gs://` object that `poll`
copies into our work directory at once (Cloud Storage JSON API,
`GET {VERTEX_STORAGE_BASE_URL}/storage/v1/b/{bucket}/o/{object}?alt=media`).

Auth: express mode (`VERTEX_API_KEY`, sent as `x-goog-api-key`) or a service account
(`GOOGLE_APPLICATION_CREDENTIALS` + `VERTEX_PROJECT`, `VERTEX_LOCATION`). The Google state this
relies on, and the date it was checked, is next to the model table in `catalog.py`.

SDK facts (google-genai 3.x; `tests/generation/test_vertex_provider.py` pins the paths):
- `genai.Client(vertexai=True, ...)`: 3.x runs `generate_videos` in Vertex mode only.
- `HttpOptions.base_url` is honoured by generate and `operations.get` (which becomes
  `:fetchPredictOperation` in Vertex mode); `HttpOptions.timeout` is in ms; we set
  `retry_options.attempts=1` so SDK retries never stack under the pipeline's own.
- Vertex mode takes `seed`, `generate_audio` and `output_gcs_uri`; SynthID marks every output
  (our `watermark` has no Veo equivalent).

Outcomes: a finished operation with `error` is transient for UNAVAILABLE / RESOURCE_EXHAUSTED /
INTERNAL / DEADLINE_EXCEEDED (and then carries `details["operation_done"]`: retrying means
submitting again), else `ProviderFailed`; no video and `raiMediaFilteredCount` ->
`ContentBlocked` (not charged by Google); no video and no reason -> `ProviderFailed`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from django.conf import settings
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from generation.providers import google_common
from generation.providers.base import (
    Completed,
    ContentBlocked,
    InputImage,
    Outcome,
    Pending,
    ProgressFn,
    ProviderFailed,
    ProviderTransientError,
    RenderRequest,
    VideoProvider,
)
from generation.providers.catalog import CapabilityError, model_spec, spec_validate

logger = logging.getLogger(__name__)

T = TypeVar("T")
SURFACE = "Vertex AI"
VIDEO_FILENAME = "video.mp4"
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def _call(what: str, fn: Callable[[], T]) -> T:
    return google_common.call(SURFACE, what, fn, genai_errors.APIError)


class VertexProvider(VideoProvider):
    """Veo 3.1 GA on Vertex AI (`GENERATION_PROVIDER=vertex`). Settings are read at each call."""

    name: ClassVar[str] = "vertex"

    @property
    def poll_interval_seconds(self) -> float:
        return float(settings.VERTEX_POLL_INTERVAL_SECONDS)

    def model_for_tier(self, model_tier: str) -> str:
        try:
            model_id = model_spec(provider=self.name, tier=model_tier).model_id
        except CapabilityError as exc:
            raise ProviderFailed(f"unknown model tier {model_tier!r}") from exc
        if not model_id:
            raise ProviderFailed(f"VERTEX_MODEL_{model_tier.upper()} is empty")
        return model_id

    def submit(self, request: RenderRequest, *, workdir: Path, progress: ProgressFn) -> Outcome:
        """Start one Veo operation and return `Pending` with its name (nothing written).

        Calling it again for the same job starts a second upstream operation (Vertex has no
        idempotency key for predictLongRunning); the pipeline keeps the name it stored last.
        """
        try:
            spec_validate(
                model_spec(provider=self.name, tier=request.model_tier),
                mode=request.mode,
                resolution=request.resolution,
                duration_seconds=request.duration_seconds,
                aspect_ratio=request.aspect_ratio,
                image_count=len(request.images),
                has_source_video=bool(request.source_video_uri or request.source_video_path),
                generate_audio=request.generate_audio,
                person_generation=request.person_generation,
            )
        except CapabilityError as exc:
            raise ProviderFailed(
                f"Veo refuses this request: {exc.field}: {exc.message}",
                details={"field": exc.field},
            ) from exc
        model = self.model_for_tier(request.model_tier)
        source, config = _generate_videos_arguments(request)
        client = _client()
        operation = _call(
            "predictLongRunning",
            lambda: client.models.generate_videos(model=model, source=source, config=config),
        )
        if not operation.name:
            raise ProviderFailed("Vertex answered predictLongRunning without an operation name")
        logger.info("vertex operation %s started for job %s", operation.name, request.job_id)
        return Pending(operation=operation.name, poll_after_seconds=self.poll_interval_seconds)

    def poll(self, operation: str, request: RenderRequest, *, workdir: Path) -> Outcome:
        """Check the operation; when done, copy its video into `workdir` (idempotent)."""
        client = _client()
        op = _call(
            "fetchPredictOperation",
            lambda: client.operations.get(
                types.GenerateVideosOperation.model_validate({"name": operation})
            ),
        )
        if not op.done:
            return Pending(operation=operation, poll_after_seconds=self.poll_interval_seconds)
        if op.error:
            raise _operation_error(operation, op.error)
        video = _first_video(operation, op)
        workdir.mkdir(parents=True, exist_ok=True)
        video_path = workdir / VIDEO_FILENAME
        if video.video_bytes:
            google_common.write_atomically(video_path, video.video_bytes)
        elif (video.uri or "").startswith("gs://"):
            google_common.write_atomically(video_path, _gcs_read(str(video.uri)))
        else:
            raise ProviderFailed(f"Veo returned a video we cannot fetch: {video.uri!r}")
        width, height, duration = google_common.probe(video_path, SURFACE)
        model = self.model_for_tier(request.model_tier)
        return Completed(
            video_path=video_path,
            width=width,
            height=height,
            duration_seconds=duration,
            provider_video_uri=video.uri or "",
            details={"vertex_operation": operation, "vertex_model": model},
            upstream_model=model,
        )


@functools.lru_cache(maxsize=4)
def _shared_client(
    api_key: str, project: str, location: str, base_url: str, timeout_seconds: float
) -> genai.Client:
    """One SDK client per process and configuration (building one costs far more CPU than a
    poll); thread-safe for requests; a settings change gets a new client."""
    http_options = types.HttpOptions(
        base_url=base_url or None,
        timeout=int(timeout_seconds * 1000),
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    if api_key:
        return genai.Client(vertexai=True, api_key=api_key, http_options=http_options)
    return genai.Client(
        vertexai=True, project=project, location=location, http_options=http_options
    )


def _client() -> genai.Client:
    api_key = str(settings.VERTEX_API_KEY)
    project = str(settings.VERTEX_PROJECT)
    if not api_key and not project:
        raise ProviderFailed("the vertex provider needs VERTEX_API_KEY or VERTEX_PROJECT")
    try:
        return _shared_client(
            api_key,
            "" if api_key else project,
            "" if api_key else str(settings.VERTEX_LOCATION),
            str(settings.VERTEX_BASE_URL),
            float(settings.VERTEX_HTTP_TIMEOUT_SECONDS),
        )
    except Exception as exc:  # google.auth's DefaultCredentialsError and friends
        raise ProviderFailed(f"cannot build the Vertex client: {exc}") from exc


def _generate_videos_arguments(
    request: RenderRequest,
) -> tuple[types.GenerateVideosSource, types.GenerateVideosConfig]:
    """Map a validated `RenderRequest` onto `generate_videos`' source and config.

    text: prompt; image: first frame; first_last: first frame + `last_frame`; reference:
    `reference_images` of type "asset"; extend: the earlier output's `gs://` URI, else its
    bytes (our stored copy).
    """
    image: types.Image | None = None
    video: types.Video | None = None
    last_frame: types.Image | None = None
    reference_images: list[types.VideoGenerationReferenceImage] | None = None
    if request.mode in ("image", "first_last"):
        image = _image(request.images[0])
    if request.mode == "first_last":
        last_frame = _image(request.images[1])
    if request.mode == "reference":
        reference_images = [
            types.VideoGenerationReferenceImage(
                image=_image(item), reference_type=types.VideoGenerationReferenceType.ASSET
            )
            for item in request.images
        ]
    if request.mode == "extend":
        if (request.source_video_uri or "").startswith("gs://"):
            video = types.Video(uri=request.source_video_uri)
        elif request.source_video_path:
            video = types.Video(
                video_bytes=Path(request.source_video_path).read_bytes(), mime_type="video/mp4"
            )
    source = types.GenerateVideosSource(prompt=request.prompt or None, image=image, video=video)
    config = types.GenerateVideosConfig(
        number_of_videos=1,
        aspect_ratio=request.aspect_ratio,
        resolution=request.resolution,
        duration_seconds=request.duration_seconds,
        seed=request.seed,
        generate_audio=request.generate_audio,
        negative_prompt=request.negative_prompt or None,
        person_generation=request.person_generation or None,
        last_frame=last_frame,
        reference_images=reference_images,
        output_gcs_uri=str(settings.VERTEX_OUTPUT_GCS_URI) or None,
    )
    return source, config


def _image(item: InputImage) -> types.Image:
    return types.Image(image_bytes=item.data, mime_type=item.mime_type)


def _operation_error(
    operation: str, error: dict[str, Any]
) -> ProviderTransientError | ProviderFailed:
    code = error.get("code")
    status = str(error.get("status") or "")
    message = str(error.get("message") or "no message")
    text = f"Veo operation failed (code {code}{' ' + status if status else ''}): {message}"
    details = {"operation": operation, "upstream_code": str(code), "operation_done": "true"}
    if google_common.rpc_error_is_transient(code, status):
        return ProviderTransientError(text, details=details)
    return ProviderFailed(text, details=details)


def _first_video(operation: str, op: types.GenerateVideosOperation) -> types.Video:
    """The one video of a finished operation, or the reason there is none."""
    response = op.response or op.result
    if response is None:
        raise ProviderFailed(
            "Veo operation finished without a response or an error",
            details={"operation": operation},
        )
    for generated in response.generated_videos or []:
        if generated.video is not None and (generated.video.uri or generated.video.video_bytes):
            return generated.video
    reasons = [str(reason) for reason in response.rai_media_filtered_reasons or []]
    count = response.rai_media_filtered_count
    if reasons or count:
        raise ContentBlocked(
            "Veo's safety filters blocked this video"
            + (": " + " ".join(reasons) if reasons else ""),
            details={
                "operation": operation,
                "rai_media_filtered_count": str(count or len(reasons)),
            },
        )
    raise ProviderFailed(
        "Veo operation finished without a video or a reason", details={"operation": operation}
    )


def _gcs_headers() -> dict[str, str]:
    if settings.VERTEX_API_KEY:
        return {"x-goog-api-key": str(settings.VERTEX_API_KEY)}
    import google.auth
    import google.auth.transport.requests

    credentials, _project = google.auth.default(scopes=_SCOPES)
    credentials.refresh(google.auth.transport.requests.Request())
    return {"Authorization": f"Bearer {credentials.token}"}


def _gcs_read(uri: str) -> bytes:
    return google_common.gcs_read(
        uri,
        base_url=str(settings.VERTEX_STORAGE_BASE_URL),
        headers=_gcs_headers(),
        timeout_seconds=float(settings.VERTEX_HTTP_TIMEOUT_SECONDS),
    )
