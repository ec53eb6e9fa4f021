"""Operations of the OpenAI-style Videos API (`/v1/videos`, generation/facades/openai_videos)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter

from generation.openapi.shapes import (
    STRINGS,
    Operation,
    Schema,
    integer,
    nullable,
    obj,
    ok,
    string,
)

TAG_OPENAI = "OpenAI-style videos"
CONTENT_PATH = "/v1/videos/{video_id}/content"

ERROR = ok(
    obj(
        {
            "error": obj(
                {
                    "message": string(),
                    "type": string(),
                    "param": nullable(string()),
                    "code": nullable(string()),
                },
                ("message", "type", "param", "code"),
            )
        },
        ("error",),
    ),
    "OpenAI's error envelope. 400 bad input (`param` names the field), 401 API key, "
    "402 credits, 403 key scope, 404 unknown video (also another account's), 409 state "
    "conflict, 413 body too large, 415 media type, 429 rate/concurrency (Retry-After), "
    "503 limits unavailable (Retry-After).",
)
VIDEO = obj(
    {
        "id": string("`video_<32 hex>`; any facade's id of the job is accepted back"),
        "object": string(enum=["video"]),
        "status": string(enum=["queued", "in_progress", "completed", "failed", "cancelled"]),
        "progress": integer(minimum=0, maximum=100),
        "created_at": integer("unix seconds"),
        "completed_at": nullable(integer("unix seconds")),
        "expires_at": nullable(integer("unix seconds; null: kept")),
        "error": nullable(obj({"code": string(), "message": string()})),
        "model": string(),
        "seconds": string(),
        "size": string("WxH"),
        "prompt": string(),
        "remixed_from_video_id": nullable(string()),
        "cancel_requested": {"type": "boolean", "description": "present after a cancel request"},
    },
    ("id", "object", "status", "progress", "created_at", "model", "seconds", "size"),
)
IMAGE_REF = obj({"image_url": string(format="uri"), "file_id": string("`img_<hex>` upload key")})
CREATE_FIELDS: dict[str, Schema] = {
    "prompt": string(minLength=1, maxLength=5000),
    "model": string(enum=["veo-3.1", "veo-3.1-fast", "veo-3.1-lite"], default="veo-3.1-fast"),
    "seconds": string("4, 6, 8 (Veo); a number is accepted too", default="8"),
    "size": string(
        enum=["1280x720", "720x1280", "1920x1080", "1080x1920", "3840x2160", "2160x3840"],
        default="1280x720",
    ),
    "negative_prompt": string(),
    "seed": integer(minimum=0, maximum=2**32 - 1),
    "audio": {"type": "boolean", "default": True},
    "callback_url": string(format="uri"),
    "person_generation": string("as the model's catalog entry lists (GET /api/v1/models)"),
    "reference_images": STRINGS,
}
VIDEO_ID = OpenApiParameter(
    "video_id", str, OpenApiParameter.PATH, description="`video_<hex>` (or any facade's job id)"
)
ERRORS = dict.fromkeys((400, 401, 402, 403, 404, 409, 429), ERROR)
READ_ERRORS = dict.fromkeys((400, 401, 403, 404), ERROR)


def _headers_note(text: str) -> str:
    return text + " Authorization: `Bearer <API key>`."


OPENAI_OPERATIONS = {
    ("VideosApi", "POST"): Operation(
        TAG_OPENAI,
        "Create a video",
        _headers_note(
            "multipart/form-data (as the official SDK sends it) or JSON. `input_reference`: a "
            "file, or `{image_url}` / `{file_id}` (multipart: `input_reference[image_url]`). "
            "Extras: `last_frame`, `reference_images`, `negative_prompt`, `seed`, `audio`, "
            "`callback_url`. `Idempotency-Key` replays the first answer."
        ),
        request={
            "multipart/form-data": obj(
                {**CREATE_FIELDS, "input_reference": string(format="binary")}, ("prompt",)
            ),
            "application/json": obj(
                {**CREATE_FIELDS, "input_reference": IMAGE_REF, "last_frame": IMAGE_REF},
                ("prompt",),
            ),
        },
        responses={200: ok(VIDEO), **ERRORS, 503: ERROR},
        operation_id="openai_videos_create",
    ),
    ("VideosApi", "GET"): Operation(
        TAG_OPENAI,
        "List videos",
        _headers_note("The account's videos from every API, newest first by default."),
        responses={
            200: ok(
                obj(
                    {
                        "object": string(enum=["list"]),
                        "data": {"type": "array", "items": VIDEO},
                        "first_id": nullable(string()),
                        "last_id": nullable(string()),
                        "has_more": {"type": "boolean"},
                    }
                )
            ),
            **READ_ERRORS,
        },
        parameters=(
            OpenApiParameter("after", str, OpenApiParameter.QUERY, description="a video id"),
            OpenApiParameter("limit", int, OpenApiParameter.QUERY, description="1-100, 20"),
            OpenApiParameter("order", str, OpenApiParameter.QUERY, enum=["asc", "desc"]),
        ),
        operation_id="openai_videos_list",
    ),
    ("VideoApi", "GET"): Operation(
        TAG_OPENAI,
        "Retrieve a video",
        _headers_note("Sends `openai-poll-after-ms` while the video is queued or in progress."),
        responses={200: ok(VIDEO), **READ_ERRORS},
        parameters=(VIDEO_ID,),
        operation_id="openai_videos_retrieve",
    ),
    ("VideoApi", "DELETE"): Operation(
        TAG_OPENAI,
        "Delete a video's files",
        _headers_note("A finished video only (409 while it runs: cancel it first)."),
        responses={
            200: ok(
                obj(
                    {
                        "id": string(),
                        "object": string(enum=["video.deleted"]),
                        "deleted": {"type": "boolean"},
                    }
                )
            ),
            **READ_ERRORS,
            409: ERROR,
        },
        parameters=(VIDEO_ID,),
        operation_id="openai_videos_delete",
    ),
    ("VideoContentApi", "GET"): Operation(
        TAG_OPENAI,
        "Download content",
        _headers_note(
            "`variant=video` (MP4), `thumbnail` (JPEG poster) or `spritesheet` (JPEG grid of "
            "frames). 409 until completed."
        ),
        responses={200: ok(string(format="binary")), **READ_ERRORS, 409: ERROR},
        parameters=(
            VIDEO_ID,
            OpenApiParameter(
                "variant", str, OpenApiParameter.QUERY, enum=["video", "thumbnail", "spritesheet"]
            ),
        ),
        operation_id="openai_videos_content",
    ),
    ("VideoRemixApi", "POST"): Operation(
        TAG_OPENAI,
        "Remix a video",
        _headers_note("A new video from the same inputs with a new prompt."),
        request={"application/json": obj({"prompt": string(minLength=1)}, ("prompt",))},
        responses={200: ok(VIDEO), **ERRORS, 503: ERROR},
        parameters=(VIDEO_ID,),
        operation_id="openai_videos_remix",
    ),
    ("VideoExtensionsApi", "POST"): Operation(
        TAG_OPENAI,
        "Extend a video",
        _headers_note("8 more seconds of a completed 720p video (multipart: `video[id]`)."),
        request={
            "application/json": obj(
                {
                    "prompt": string(minLength=1),
                    "seconds": string(enum=["8"]),
                    "video": obj({"id": string()}, ("id",)),
                },
                ("prompt", "video"),
            )
        },
        responses={200: ok(VIDEO), **ERRORS, 503: ERROR},
        operation_id="openai_videos_extend",
    ),
    ("VideoCancelApi", "POST"): Operation(
        TAG_OPENAI,
        "Cancel a video",
        _headers_note(
            "Queued: cancelled at once, credits released. Running: cancelled where the "
            "provider can, else `cancel_requested: true`. Ended: 409."
        ),
        responses={200: ok(VIDEO), 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
        parameters=(VIDEO_ID,),
        operation_id="openai_videos_cancel",
    ),
}


def content_binary(result: Schema) -> None:
    """The content operation answers files, not JSON."""
    operation = result.get("paths", {}).get(CONTENT_PATH, {}).get("get")
    if operation and "200" in operation.get("responses", {}):
        binary = {"schema": {"type": "string", "format": "binary"}}
        operation["responses"]["200"]["content"] = {
            "video/mp4": binary,
            "image/jpeg": binary,
        }
