"""How a job looks on the OpenAI-style `/v1/videos` API: its id, the video object, sizes and
model ids. Pure rendering (no writes, no queries beyond the job instance given), so the status
path, the list, callbacks and any other view (an event stream) render the same object.

Ids map both ways between facades, all of them spellings of `Job.id`:

    /v1/videos          video_<32 hex>
    veo3api / kie       veo_task_<32 hex>, veo_extend_task_<32 hex>
    veo3o1, codefast    the UUID (with dashes)

`video_id_parse` accepts every one of them, so a job made on any facade is readable here (and
`video_<hex>` ids are accepted back by the others through the same hex).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from billing.catalog import DEFAULT_ASPECT_RATIO, FRAME_SIZES, Tier
from generation.errors import CODE_CONTENT, CODE_GENERATION_FAILED, CODE_INTERNAL, MSG_INTERNAL
from generation.models import Job

VIDEO_ID_PREFIX = "video_"
VIDEO_ID_MAX = 80
_ID_RE = re.compile(r"^(?:video_|veo_extend_task_|veo_task_)?([0-9a-f]{32})$")

# Our public model ids (one per tier); tier names are accepted as aliases.
MODEL_IDS: dict[str, str] = {
    "veo-3.1": Tier.QUALITY.value,
    "veo-3.1-fast": Tier.FAST.value,
    "veo-3.1-lite": Tier.LITE.value,
}
MODEL_NAMES: dict[str, str] = {tier: name for name, tier in MODEL_IDS.items()}

STATUS: dict[str, str] = {
    Job.State.QUEUED: "queued",
    Job.State.RUNNING: "in_progress",
    Job.State.SUCCEEDED: "completed",
    Job.State.FAILED: "failed",
    Job.State.CANCELLED: "cancelled",
}
TERMINAL_STATUSES = ("completed", "failed", "cancelled")

# `size` ("WxH") <-> (aspect ratio, resolution), from the product's frame sizes.
SIZES: dict[str, tuple[str, str]] = {}
for _resolution, (_w, _h) in FRAME_SIZES.items():
    SIZES[f"{_w}x{_h}"] = ("16:9", _resolution)
    SIZES[f"{_h}x{_w}"] = ("9:16", _resolution)

ERROR_CODES: dict[int, str] = {
    CODE_CONTENT: "input_rejected",
    CODE_INTERNAL: "internal_error",
    CODE_GENERATION_FAILED: "generation_failed",
}

# How long the SDK's create_and_poll waits between polls (header openai-poll-after-ms).
POLL_AFTER_MS_QUEUED = 2000
POLL_AFTER_MS_RUNNING = 1000


def video_id(job_id: uuid.UUID) -> str:
    """The `/v1/videos` id of a job: `video_<32 hex>`."""
    return f"{VIDEO_ID_PREFIX}{job_id.hex}"


def video_id_parse(value: object) -> uuid.UUID | None:
    """The job id inside any facade's spelling of it (see the module doc), else None."""
    if not isinstance(value, str) or not value or len(value) > VIDEO_ID_MAX:
        return None
    text = value.strip().lower()
    match = _ID_RE.match(text)
    if match:
        return uuid.UUID(match.group(1))
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def model_name(tier: str) -> str:
    return MODEL_NAMES.get(tier, tier)


def job_aspect_ratio(job: Job) -> str:
    """The aspect ratio the video has (or will have: "auto" renders as the default until the
    worker resolves it)."""
    if job.resolved_aspect_ratio:
        return job.resolved_aspect_ratio
    return job.aspect_ratio if job.aspect_ratio != "auto" else DEFAULT_ASPECT_RATIO


def size_of(job: Job) -> str:
    """`WxH` of the video: measured once it exists, else from resolution and aspect ratio."""
    if job.output_width and job.output_height:
        return f"{job.output_width}x{job.output_height}"
    width, height = FRAME_SIZES.get(job.resolution, FRAME_SIZES["720p"])
    if job_aspect_ratio(job) == "9:16":
        width, height = height, width
    return f"{width}x{height}"


def unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def expires_at(job: Job) -> int | None:
    """When the video's file goes: its removal time once removed, else completion plus the
    result retention (STORAGE_RETENTION_RESULTS_DAYS; 0 keeps it forever: null)."""
    if job.video_deleted_at is not None:
        return unix(job.video_deleted_at)
    days = settings.STORAGE_RETENTION_RESULTS_DAYS
    if job.state != Job.State.SUCCEEDED or job.completed_at is None or days <= 0:
        return None
    return unix(job.completed_at + timedelta(days=days))


def progress_of(job: Job) -> int:
    if job.state == Job.State.SUCCEEDED:
        return 100
    if job.state == Job.State.QUEUED:
        return 0
    return int(job.progress)


def error_of(job: Job) -> dict[str, str] | None:
    if job.state == Job.State.CANCELLED:
        return {"code": "cancelled", "message": job.error_message or "Cancelled."}
    if job.state != Job.State.FAILED:
        return None
    code = ERROR_CODES.get(job.error_code or CODE_INTERNAL, "generation_failed")
    return {"code": code, "message": job.error_message or MSG_INTERNAL}


def video_object(job: Job, *, cancel_requested: bool = False) -> dict[str, Any]:
    """The OpenAI video object of a job (a full row or a status snapshot,
    generation.snapshots.job_snapshot_get). A running job whose cancel was asked for but not
    yet confirmed upstream (`cancel_requested_at`, or `cancel_requested` from the cancel call
    itself) has `cancel_requested: true`."""
    remixed_from = getattr(job, "remixed_from_id", None)
    data: dict[str, Any] = {
        "id": video_id(job.id),
        "object": "video",
        "status": STATUS[job.state],
        "progress": progress_of(job),
        "created_at": unix(job.created_at),
        "completed_at": unix(job.completed_at) if job.is_terminal else None,
        "expires_at": expires_at(job),
        "error": error_of(job),
        "model": model_name(job.model_tier),
        "seconds": str(job.duration_seconds),
        "size": size_of(job),
        "prompt": job.prompt,
        "remixed_from_video_id": video_id(remixed_from) if remixed_from else None,
    }
    if (cancel_requested or getattr(job, "cancel_requested_at", None)) and not job.is_terminal:
        data["cancel_requested"] = True
    return data


def poll_after_ms(job: Job) -> int | None:
    """The `openai-poll-after-ms` header value while the job runs, None once it ended."""
    if job.state == Job.State.QUEUED:
        return POLL_AFTER_MS_QUEUED
    if job.state == Job.State.RUNNING:
        return POLL_AFTER_MS_RUNNING
    return None


EVENT_TYPES: dict[str, str] = {
    Job.State.SUCCEEDED: "video.completed",
    Job.State.FAILED: "video.failed",
    Job.State.CANCELLED: "video.cancelled",
}


def video_event(job: Job) -> dict[str, Any]:
    """The callback body of a finished `/v1/videos` job, shaped like OpenAI's webhook events
    (`{id, object: "event", created_at, type, data}`); `data` is the whole video object.
    Delivered and signed (Standard Webhooks headers) by outbound like every callback."""
    return {
        "id": f"evt_{job.id.hex}",
        "object": "event",
        "created_at": unix(job.completed_at),
        "type": EVENT_TYPES.get(job.state, "video.failed"),
        "data": video_object(job),
    }
