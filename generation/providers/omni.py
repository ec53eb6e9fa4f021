"""Gemini Omni Flash on the Interactions API: the only module that imports `google.genai` for
Interactions.

Flow (https://ai.google.dev/gemini-api/docs/omni): `submit` creates a background interaction
(`POST {base}/{version}/interactions` with `background: true`, the prompt and input media,
`response_format: {type: "video", aspect_ratio, duration: "<n>s", resolution, delivery}` and
`generation_config.video_config.task`) and returns `Pending` with its id; the pipeline polls
(`GET …/interactions/{id}?stream=false`) from scheduled tasks; `cancel` calls
`POST …/interactions/{id}/cancel`. `{version}` is `v1` on the Gemini API and `v1beta1` on
Vertex (as google-genai 3.6.1 sends them; `tests/generation/test_omni_provider.py` pins it).

Statuses -> outcomes:
- `queued`, `in_progress`, `requires_continuation` (and unknown new ones): still running;
- `completed`: the video (`output_video.data` base64, or `.uri` fetched at once: a Google
  file URI with our key, or `gs://` through the Cloud Storage JSON API);
- `incomplete`, `budget_exceeded`: the video delivered so far when there is one (billed on its
  seconds), else a permanent failure;
- `failed`: `ContentBlocked` when the error names a safety / prohibited-content reason, a
  retryable error when it is UNAVAILABLE / RESOURCE_EXHAUSTED / INTERNAL, else `ProviderFailed`;
- `cancelled`: a permanent failure (nothing billed);
- `requires_action`: the model asks for input we never give: cancelled upstream, then failed.

Billing: Omni bills the seconds delivered, so `Completed.billed_seconds` is the probed length
of the video (at most the requested duration); the job captures that share of its hold.
"""

from __future__ import annotations

import base64
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from django.conf import settings
from google import genai
from google.genai import _interactions, types

from generation.providers import google_common
from generation.providers.base import (
    Completed,
    ContentBlocked,
    InputImage,
    Outcome,
    Pending,
    ProgressFn,
    ProviderError,
    ProviderFailed,
    ProviderTransientError,
    RenderRequest,
    VideoProvider,
)
from generation.providers.catalog import CapabilityError, model_spec, spec_validate

logger = logging.getLogger(__name__)

T = TypeVar("T")
SURFACE = "Gemini Interactions"
VIDEO_FILENAME = "video.mp4"
TASKS = {
    "text": "text_to_video",
    "image": "image_to_video",
    "reference": "reference_to_video",
    "extend": "extend",
    "upscale": "upscale",
}
RUNNING = frozenset({"queued", "in_progress", "requires_continuation", "idle"})
_SAFETY_WORDS = ("safety", "prohibited", "blocklist", "policy", "responsible ai")


def _call(what: str, fn: Callable[[], T]) -> T:
    return google_common.call(SURFACE, what, fn, _interactions.APIError)


class OmniProvider(VideoProvider):
    """Gemini Omni Flash (`GENERATION_PROVIDER=omni`). Settings are read at each call."""

    name: ClassVar[str] = "omni"

    @property
    def poll_interval_seconds(self) -> float:
        return float(settings.OMNI_POLL_INTERVAL_SECONDS)

    def submit(self, request: RenderRequest, *, workdir: Path, progress: ProgressFn) -> Outcome:
        """Create one background interaction; `Pending` with its id (nothing written)."""
        try:
            spec = model_spec(provider=self.name, tier=request.model_tier)
            spec_validate(
                spec,
                mode=request.mode,
                resolution=request.resolution,
                duration_seconds=request.duration_seconds,
                aspect_ratio=request.aspect_ratio,
                image_count=len(request.images),
                has_source_video=bool(request.source_video_path),
                generate_audio=request.generate_audio,
                person_generation=request.person_generation,
            )
        except CapabilityError as exc:
            raise ProviderFailed(
                f"Omni refuses this request: {exc.field}: {exc.message}",
                details={"field": exc.field},
            ) from exc
        client = _client()
        arguments = _create_arguments(request, spec.model_id)
        interaction = _call("interactions.create", lambda: client.interactions.create(**arguments))
        if not interaction.id:
            raise ProviderFailed("Omni answered interactions.create without an id")
        logger.info("omni interaction %s started for job %s", interaction.id, request.job_id)
        return Pending(operation=interaction.id, poll_after_seconds=self.poll_interval_seconds)

    def poll(self, operation: str, request: RenderRequest, *, workdir: Path) -> Outcome:
        client = _client()
        interaction = _call("interactions.get", lambda: client.interactions.get(operation))
        status = str(interaction.status or "")
        details = {"omni_interaction": operation, "omni_status": status}
        if status in RUNNING or status not in _KNOWN:
            return Pending(operation=operation, poll_after_seconds=self.poll_interval_seconds)
        video = getattr(interaction, "output_video", None)
        if status == "completed" or (status in ("incomplete", "budget_exceeded") and video):
            if video is None:
                raise ProviderFailed("Omni completed without a video", details=details)
            return self._completed(video, request, workdir, details)
        if status == "requires_action":
            self.cancel(operation)
            raise ProviderFailed(
                "Omni asked for an action this service cannot take",
                details={**details, "operation_done": "true"},
            )
        if status == "failed":
            raise _failure(interaction, details)
        what = {"cancelled": "was cancelled", "budget_exceeded": "ran out of budget"}.get(
            status, "stopped before a video was delivered"
        )
        raise ProviderFailed(
            f"Omni interaction {what}", details={**details, "operation_done": "true"}
        )

    def cancel(self, operation: str) -> bool:
        client = _client()
        interaction = _call("interactions.cancel", lambda: client.interactions.cancel(operation))
        return str(interaction.status or "") == "cancelled"

    def _completed(
        self, video: Any, request: RenderRequest, workdir: Path, details: dict[str, str]
    ) -> Completed:
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / VIDEO_FILENAME
        google_common.write_atomically(path, _video_bytes(video))
        width, height, duration = google_common.probe(path, SURFACE)
        return Completed(
            video_path=path,
            width=width,
            height=height,
            duration_seconds=duration,
            provider_video_uri=str(getattr(video, "uri", "") or ""),
            details={**details, "omni_model": str(settings.OMNI_MODEL)},
            billed_seconds=min(float(request.duration_seconds), duration),
            upstream_model=str(settings.OMNI_MODEL),
        )


_KNOWN = RUNNING | {
    "completed",
    "failed",
    "cancelled",
    "incomplete",
    "budget_exceeded",
    "requires_action",
}


@functools.lru_cache(maxsize=4)
def _shared_client(
    surface: str, api_key: str, project: str, location: str, base_url: str, timeout: float
) -> genai.Client:
    # The Interactions client reads `attempts` as the number of *retries* of 408/409/429/5xx
    # (google-genai 3.6.1 `_translate_retry_config`), and the rest of the SDK rewrites 0 to 1
    # in place. Limiting the retried statuses to one Google never sends keeps it at one
    # request per call, so SDK retries never stack under the pipeline's own (a dropped
    # connection may still be retried once by the SDK).
    http_options = types.HttpOptions(
        base_url=base_url or None,
        timeout=int(timeout * 1000),
        retry_options=types.HttpRetryOptions(attempts=1, http_status_codes=[599]),
    )
    if surface == "vertex" and not api_key:
        return genai.Client(
            vertexai=True, project=project, location=location, http_options=http_options
        )
    return genai.Client(vertexai=surface == "vertex", api_key=api_key, http_options=http_options)


def _client() -> genai.Client:
    surface = str(settings.OMNI_SURFACE)
    if surface == "vertex":
        api_key, base_url = str(settings.VERTEX_API_KEY), str(settings.VERTEX_BASE_URL)
        if not api_key and not settings.VERTEX_PROJECT:
            raise ProviderFailed("Omni on Vertex needs VERTEX_API_KEY or VERTEX_PROJECT")
    else:
        api_key, base_url = str(settings.GEMINI_API_KEY), str(settings.GEMINI_BASE_URL)
        if not api_key:
            raise ProviderFailed("the omni provider needs GEMINI_API_KEY")
    try:
        return _shared_client(
            surface,
            api_key,
            str(settings.VERTEX_PROJECT),
            str(settings.VERTEX_LOCATION),
            base_url,
            float(settings.OMNI_HTTP_TIMEOUT_SECONDS),
        )
    except Exception as exc:  # google.auth's DefaultCredentialsError and friends
        raise ProviderFailed(f"cannot build the Interactions client: {exc}") from exc


def _create_arguments(request: RenderRequest, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
    content += [_image(item) for item in request.images]
    if request.mode in ("extend", "upscale") and request.source_video_path:
        data = Path(request.source_video_path).read_bytes()
        content.append(
            {"type": "video", "data": base64.b64encode(data).decode(), "mime_type": "video/mp4"}
        )
    return {
        "model": model,
        "background": True,
        "input": content,
        "response_format": {
            "type": "video",
            "aspect_ratio": request.aspect_ratio,
            "duration": f"{request.duration_seconds}s",
            "resolution": request.resolution,
            "delivery": str(settings.OMNI_DELIVERY),
        },
        "generation_config": {"video_config": {"task": TASKS[request.mode]}},
    }


def _image(item: InputImage) -> dict[str, Any]:
    return {
        "type": "image",
        "data": base64.b64encode(item.data).decode(),
        "mime_type": item.mime_type,
    }


def _failure(interaction: Any, details: dict[str, str]) -> ProviderError:
    errors = list(getattr(interaction, "errors", None) or [])
    first = errors[0] if errors else None
    code = str(getattr(first, "code", "") or "")
    message = str(getattr(first, "message", "") or "no message")
    details = {**details, "upstream_code": code, "operation_done": "true"}
    text = f"Omni interaction failed ({code or 'no code'}): {message}"
    if any(word in f"{code} {message}".lower() for word in _SAFETY_WORDS):
        return ContentBlocked(text, details=details)
    if google_common.rpc_error_is_transient(code, code.upper()):
        return ProviderTransientError(text, details=details)
    return ProviderFailed(text, details=details)


def _video_bytes(video: Any) -> bytes:
    data = getattr(video, "data", None)
    if data:
        return base64.b64decode(data) if isinstance(data, str) else bytes(data)
    uri = str(getattr(video, "uri", "") or "")
    timeout = float(settings.OMNI_HTTP_TIMEOUT_SECONDS)
    if uri.startswith("gs://"):
        return google_common.gcs_read(
            uri,
            base_url=str(settings.VERTEX_STORAGE_BASE_URL),
            headers={"x-goog-api-key": str(settings.VERTEX_API_KEY)},
            timeout_seconds=timeout,
        )
    host = urlsplit(uri).hostname or ""
    base_host = urlsplit(str(settings.GEMINI_BASE_URL)).hostname or ""
    if not uri or not (host.endswith(".googleapis.com") or (base_host and host == base_host)):
        # Never send our key to a host that is not Google's (or the configured endpoint).
        raise ProviderFailed(f"Omni returned a video URI we will not fetch: {uri!r}")
    return google_common.http_read(
        uri,
        headers={"x-goog-api-key": str(settings.GEMINI_API_KEY)},
        timeout_seconds=timeout,
        what="Omni video download",
    )
