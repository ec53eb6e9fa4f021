"""Google Veo through the Gemini Developer API: the only module that imports `google.genai`.

Flow (https://ai.google.dev/gemini-api/docs/video): `submit` starts a long-running operation
(`POST v1beta/models/{model}:predictLongRunning`) and returns `Pending` with its name; the
pipeline calls `poll` from scheduled tasks (`GET v1beta/{operation name}`); when the operation
is done, `poll` downloads the video at once (`GET v1beta/files/{id}:download?alt=media`,
an authenticated request that redirects) because Google deletes outputs after 2 days.

SDK facts this module depends on (google-genai 2.34.0, pinned in pyproject.toml, see
ARCHITECTURE.md §4; `tests/generation/test_gemini_provider.py` fails if they change):
- From 3.0 on `models.generate_videos` works only in Vertex mode; we pin `vertexai=False` so
  that `GOOGLE_GENAI_USE_VERTEXAI` in the environment cannot switch the client over.
- `HttpOptions.base_url` is honoured by generate, `operations.get` and `files.download`, so
  tests run the real SDK against `tests/fake_gemini.py`. `HttpOptions.timeout` is in ms.
- `files.download` ignores the host of the video URI: it extracts `files/<[a-z0-9]+>` from an
  `https://` URI and fetches it from the base URL (`_transformers.t_file_name`).
- In Gemini mode the SDK raises `ValueError` for `seed`, `generate_audio`, `fps` and other
  Vertex-only fields, so `seed` is never sent (Veo does not promise determinism anyway) and
  audio is always on. `watermark` has no Veo equivalent (SynthID marks every output).
- With `HttpOptions.retry_options` unset the SDK makes one attempt; we set `attempts=1`
  explicitly so an SDK default change cannot stack hidden retries under our pipeline's own
  retries with backoff.
- `generate_videos(prompt=, image=, video=)` is deprecated (DeprecationWarning) in favour of
  `source=GenerateVideosSource(...)`, which produces the same request body; we use `source`.

Error mapping (all SDK and transport errors become our `ProviderError`s):
- HTTP 408, 429, 5xx, connection errors and timeouts -> `ProviderTransientError`
  (`retry_after_seconds` from `Retry-After` or Google's `RetryInfo.retryDelay`);
- other HTTP 4xx -> `ProviderFailed` naming Google's message;
- an answer that is not JSON -> `ProviderTransientError`: a truncated or garbled body from an
  intermediary is momentary, and the pipeline's bounded retries and deadline cap it;
- JSON of the wrong shape or missing fields -> `ProviderFailed`: a contract change no retry
  fixes;
- a finished operation with `error`: `ProviderTransientError` for UNAVAILABLE /
  RESOURCE_EXHAUSTED / INTERNAL / DEADLINE_EXCEEDED (gRPC codes 14, 8, 13, 4, or their HTTP
  equivalents), else `ProviderFailed`. Such an operation stays failed, so the error carries
  `details["operation_done"] = "true"`: retrying means submitting again, not polling again;
- a finished operation with no video and Google's RAI filter fields -> `ContentBlocked`
  (Google does not charge for it); with no video and no reason -> `ProviderFailed`.

Deadline: `poll` cannot tell how long an operation has run (the operation carries no creation
time), so the pipeline fails a job still pending after `deadline_seconds`
(`GEMINI_DEADLINE_SECONDS`).
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
import pydantic
from django.conf import settings
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from generation import media
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
from generation.veo_rules import VeoConstraintError, veo_validate

logger = logging.getLogger(__name__)

T = TypeVar("T")

VIDEO_FILENAME = "video.mp4"
# HTTP statuses worth retrying (the same set the SDK's own retry helper uses).
_TRANSIENT_HTTP_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# google.rpc.Code values (https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto)
# worth retrying, by number and by name, as they appear in a finished operation's `error`.
_TRANSIENT_RPC_CODES = frozenset({4, 8, 13, 14})
_TRANSIENT_RPC_STATUSES = frozenset(
    {"DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL", "UNAVAILABLE"}
)
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_DOWNLOADABLE_URI_RE = re.compile(r"^https://.*?files/[a-z0-9]")


class GeminiProvider(VideoProvider):
    """Veo 3.1 via the Gemini API (`GENERATION_PROVIDER=gemini`).

    Configuration is read from Django settings at each call (GEMINI_API_KEY, GEMINI_BASE_URL,
    GEMINI_MODEL_QUALITY/FAST/LITE, GEMINI_POLL_INTERVAL_SECONDS, GEMINI_DEADLINE_SECONDS,
    GEMINI_HTTP_TIMEOUT_SECONDS), and every call uses a fresh SDK client that it closes.
    """

    name: ClassVar[str] = "gemini"

    @property
    def poll_interval_seconds(self) -> float:
        return float(settings.GEMINI_POLL_INTERVAL_SECONDS)

    @property
    def deadline_seconds(self) -> float:
        """How long the pipeline lets an operation stay pending before it fails the job."""
        return float(settings.GEMINI_DEADLINE_SECONDS)

    def model_for_tier(self, model_tier: str) -> str:
        """The Gemini model id for one of our tiers ("quality" | "fast" | "lite")."""
        models = {
            "quality": settings.GEMINI_MODEL_QUALITY,
            "fast": settings.GEMINI_MODEL_FAST,
            "lite": settings.GEMINI_MODEL_LITE,
        }
        if model_tier not in models:
            raise ProviderFailed(f"unknown model tier {model_tier!r}")
        return str(models[model_tier])

    def submit(self, request: RenderRequest, *, workdir: Path, progress: ProgressFn) -> Outcome:
        """Start one Veo operation and return `Pending` with its name.

        Nothing is written to `workdir`. Calling it again for the same job starts a second
        upstream operation (Google has no idempotency key for predictLongRunning); the
        pipeline keeps the operation name it stored last. Raises `ProviderFailed` before any
        request for mode "upscale" (not a Veo operation: the pipeline renders it locally or
        generates again at the higher resolution) and for requests `veo_validate` refuses.
        """
        if request.mode == "upscale":
            raise ProviderFailed(
                "upscale is not a Veo operation: the Gemini API cannot raise the resolution "
                "of an existing video"
            )
        try:
            veo_validate(
                mode=request.mode,
                model_tier=request.model_tier,
                resolution=request.resolution,
                duration_seconds=request.duration_seconds,
                aspect_ratio=request.aspect_ratio,
                image_count=len(request.images),
                has_source_video=bool(request.source_video_uri),
            )
        except VeoConstraintError as exc:
            raise ProviderFailed(
                f"Veo refuses this request: {exc.message}", details={"field": exc.field}
            ) from exc
        model = self.model_for_tier(request.model_tier)
        source, config = _generate_videos_arguments(request)

        with self._client() as client:
            operation = _call(
                "predictLongRunning",
                lambda: client.models.generate_videos(model=model, source=source, config=config),
            )
        if not operation.name:
            raise ProviderFailed("Gemini answered predictLongRunning without an operation name")
        logger.info("gemini operation %s started for job %s", operation.name, request.job_id)
        return Pending(operation=operation.name, poll_after_seconds=self.poll_interval_seconds)

    def poll(self, operation: str, request: RenderRequest, *, workdir: Path) -> Outcome:
        """Check the operation; when it is done, download its video into `workdir`.

        Idempotent: polling a finished operation again downloads the video again and
        overwrites `workdir/video.mp4` (written to a temporary name, then renamed).
        """
        with self._client() as client:
            # `name` is declared on google-genai's non-pydantic Operation mixin, which the
            # model's type-checked __init__ does not see.
            op = _call(
                "operations.get",
                lambda: client.operations.get(
                    types.GenerateVideosOperation(name=operation)  # type: ignore[call-arg]
                ),
            )
            if not op.done:
                return Pending(operation=operation, poll_after_seconds=self.poll_interval_seconds)
            if op.error:
                raise _operation_error(operation, op.error)
            video = _first_video(operation, op)
            workdir.mkdir(parents=True, exist_ok=True)
            video_path = workdir / VIDEO_FILENAME
            _download(client, video, video_path)

        try:
            width, height, duration = media.video_probe(video_path)
        except ValueError as exc:
            raise ProviderFailed(f"the video Gemini returned {exc}") from exc
        return Completed(
            video_path=video_path,
            width=width,
            height=height,
            duration_seconds=duration,
            poster_path=None,
            provider_video_uri=video.uri or "",
            details={
                "gemini_operation": operation,
                "gemini_model": self.model_for_tier(request.model_tier),
            },
        )

    @contextlib.contextmanager
    def _client(self) -> Iterator[genai.Client]:
        api_key = str(settings.GEMINI_API_KEY)
        if not api_key:
            raise ProviderFailed("the Gemini provider needs GEMINI_API_KEY")
        yield _shared_client(
            api_key, str(settings.GEMINI_BASE_URL), float(settings.GEMINI_HTTP_TIMEOUT_SECONDS)
        )


@functools.lru_cache(maxsize=4)
def _shared_client(api_key: str, base_url: str, timeout_seconds: float) -> genai.Client:
    """One SDK client per process and configuration, reused by every call.

    Building a client (an HTTP connection pool and the SDK's configuration models) costs far
    more CPU than a poll; with hundreds of operations in flight that dominated worker time.
    The client is thread-safe for requests; a settings change gets a new client.
    """
    http_options = types.HttpOptions(
        base_url=base_url or None,
        timeout=int(timeout_seconds * 1000),
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(vertexai=False, api_key=api_key, http_options=http_options)


def _generate_videos_arguments(
    request: RenderRequest,
) -> tuple[types.GenerateVideosSource, types.GenerateVideosConfig]:
    """Map a validated `RenderRequest` onto `generate_videos`' source and config.

    text: prompt only; image: first frame; first_last: first frame + `last_frame`;
    reference: `reference_images` of type "asset"; extend: the earlier output's Veo URI
    (the Gemini API takes no video bytes).
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
        video = types.Video(uri=request.source_video_uri)
    source = types.GenerateVideosSource(prompt=request.prompt or None, image=image, video=video)
    config = types.GenerateVideosConfig(
        number_of_videos=1,
        aspect_ratio=request.aspect_ratio,
        resolution=request.resolution,
        duration_seconds=request.duration_seconds,
        negative_prompt=request.negative_prompt or None,
        person_generation=request.person_generation or None,
        last_frame=last_frame,
        reference_images=reference_images,
    )
    return source, config


def _image(item: InputImage) -> types.Image:
    return types.Image(image_bytes=item.data, mime_type=item.mime_type)


def _call(what: str, fn: Callable[[], T]) -> T:
    """Run one SDK call and translate whatever it raises into our provider errors."""
    try:
        return fn()
    except genai_errors.APIError as exc:
        raise _api_error(what, exc) from exc
    except httpx.TransportError as exc:
        raise ProviderTransientError(
            f"Gemini {what}: network error ({type(exc).__name__}: {exc})"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ProviderTransientError(f"Gemini {what}: the answer is not JSON ({exc})") from exc
    except pydantic.ValidationError as exc:
        raise ProviderFailed(f"Gemini {what}: unexpected answer shape ({exc})") from exc
    except ValueError as exc:
        # The SDK's client-side guards (Vertex-only fields, unparseable file URIs).
        raise ProviderFailed(f"Gemini {what}: {exc}") from exc


def _api_error(what: str, exc: genai_errors.APIError) -> ProviderTransientError | ProviderFailed:
    code = int(exc.code or 0)
    status = exc.status or ""
    message = exc.message or str(exc)
    text = f"Gemini {what} answered HTTP {code} {status}: {message}".replace(" :", ":")
    details = {"http_status": str(code), "upstream_status": str(status)}
    if code in _TRANSIENT_HTTP_STATUSES:
        return ProviderTransientError(
            text, retry_after_seconds=_retry_after_seconds(exc), details=details
        )
    return ProviderFailed(text, details=details)


def _retry_after_seconds(exc: genai_errors.APIError) -> float | None:
    """`Retry-After` (seconds or HTTP date), else google.rpc.RetryInfo's `retryDelay` ("30s")."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    header = headers.get("retry-after") if headers is not None else None
    if header:
        header = str(header).strip()
        if header.isdigit():
            return float(header)
        with contextlib.suppress(TypeError, ValueError):
            when = email.utils.parsedate_to_datetime(header)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    body = exc.details if isinstance(exc.details, dict) else {}
    error = body.get("error", body)
    for item in error.get("details", []) if isinstance(error, dict) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            match = _DURATION_RE.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _operation_error(
    operation: str, error: dict[str, Any]
) -> ProviderTransientError | ProviderFailed:
    code = error.get("code")
    status = str(error.get("status") or "")
    message = str(error.get("message") or "no message")
    text = f"Veo operation failed (code {code}{' ' + status if status else ''}): {message}"
    details = {"operation": operation, "upstream_code": str(code), "operation_done": "true"}
    if (
        code in _TRANSIENT_RPC_CODES
        or code in _TRANSIENT_HTTP_STATUSES
        or (status in _TRANSIENT_RPC_STATUSES)
    ):
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
        # https://ai.google.dev/gemini-api/docs/video#safety — blocked outputs are not charged.
        raise ContentBlocked(
            "Veo's safety filters blocked this video"
            + (": " + " ".join(reasons) if reasons else ""),
            details={
                "operation": operation,
                "rai_media_filtered_count": str(count or len(reasons)),
                "rai_media_filtered_reasons": json.dumps(reasons),
            },
        )
    raise ProviderFailed(
        "Veo operation finished without a video or a reason", details={"operation": operation}
    )


def _download(client: genai.Client, video: types.Video, destination: Path) -> None:
    """Stream the video to `destination` (a partial file renamed into place)."""
    partial = destination.with_name(destination.name + ".part")
    try:
        if video.video_bytes and not video.uri:
            partial.write_bytes(video.video_bytes)
        elif not _DOWNLOADABLE_URI_RE.match(video.uri or ""):
            # files.download can only fetch `https://…/files/<id>` URIs (t_file_name).
            raise ProviderFailed(f"Veo returned a video URI we cannot download: {video.uri!r}")
        else:
            _call(
                "files.download",
                lambda: client.files.download(file=video, destination=str(partial)),
            )
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
