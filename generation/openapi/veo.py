"""Operations of veo3o1 (contracts/veo3o1.md) and veo3api.ai / kie.ai (contracts/veo3api.md)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter

from generation.openapi.shapes import (
    ANY,
    STRINGS,
    TAG_VEO3API,
    TAG_VEO3O1,
    Operation,
    envelope,
    integer,
    nullable,
    obj,
    ok,
    string,
)

# ---------------------------------------------------------------------------------------------
# veo3o1 — contracts/veo3o1.md
# ---------------------------------------------------------------------------------------------

VEO3O1_ERROR = ok(
    envelope(nullable(ANY), success_code=0),
    (
        "1000 invalid parameters (400, 404 for an unknown uuid), 1001 insufficient credits (402, "
        "data {required, current}), 1002 authentication failed (401), 1003 rate limit (429), "
        "5000 server error (500). With VEO3O1_HTTP_ERROR_STATUS=0 every answer is HTTP 200."
    ),
)
VEO3O1_STATUS = obj(
    {
        "uuid": string(format="uuid"),
        "status": string(enum=["pending", "processing", "completed", "failed"]),
        "videoUrl": nullable(string(format="uri")),
        "posterUrl": nullable(string(format="uri")),
        "progress": integer("0 queued, 1-99 running, 100 done", minimum=0, maximum=100),
        "estimatedTime": integer("seconds until done (estimate)"),
        "successFlag": integer(
            "0 running, 1 success, 2 failed before start, 3 failed", enum=[0, 1, 2, 3]
        ),
        "createdAt": string(format="date-time"),
        "completedAt": nullable(string(format="date-time")),
        "errorMessage": string("present when failed"),
    }
)

VEO3O1_OPERATIONS = {
    ("GenerateVideoApi", "POST"): Operation(
        TAG_VEO3O1,
        "Generate a video",
        "Text-to-video, or image-to-video from an uploaded image (`imageKey`) or a public "
        "image URL. Two images (`imageUrls`/`imageKeys`) make a first+last frame video. "
        "An `Idempotency-Key` header replays the first answer.",
        request={
            "application/json": obj(
                {
                    "generationType": string(enum=["text_to_video", "image_to_video"]),
                    "prompt": string(minLength=1, maxLength=5000),
                    "aspectRatio": string(enum=["auto", "16:9", "9:16"], default="auto"),
                    "imageUrl": string(format="uri"),
                    "imageKey": string("key returned by /api/upload-video-image"),
                    "imageUrls": STRINGS,
                    "imageKeys": STRINGS,
                    "callbackUrl": string(format="uri"),
                },
                ("generationType", "prompt"),
            )
        },
        responses={
            200: ok(
                envelope(
                    obj(
                        {
                            "uuid": string(format="uuid"),
                            "status": string(enum=["pending"]),
                            "generationType": string(),
                            "prompt": string(),
                            "aspectRatio": string(),
                            "createdAt": string(format="date-time"),
                        }
                    ),
                    success_code=0,
                )
            ),
            400: VEO3O1_ERROR,
            401: VEO3O1_ERROR,
            402: VEO3O1_ERROR,
            429: VEO3O1_ERROR,
        },
        operation_id="veo3o1_generate_video",
    ),
    ("VideoStatusApi", "GET"): Operation(
        TAG_VEO3O1,
        "Video status",
        "Poll every 5-10 s.",
        responses={
            200: ok(envelope(VEO3O1_STATUS, success_code=0)),
            401: VEO3O1_ERROR,
            404: VEO3O1_ERROR,
        },
        parameters=(
            OpenApiParameter(
                "uuid",
                str,
                OpenApiParameter.PATH,
                description="the `uuid` returned by generate-video",
            ),
        ),
        operation_id="veo3o1_video_status",
    ),
    ("UploadVideoImageApi", "POST"): Operation(
        TAG_VEO3O1,
        "Upload an input image",
        "multipart/form-data with a `file` field (JPEG, PNG or WebP).",
        request={"multipart/form-data": obj({"file": string(format="binary")}, ("file",))},
        responses={
            200: ok(
                envelope(
                    obj({"imageUrl": string(format="uri"), "imageKey": string()}), success_code=0
                )
            ),
            400: VEO3O1_ERROR,
            401: VEO3O1_ERROR,
        },
        operation_id="veo3o1_upload_image",
    ),
}

# ---------------------------------------------------------------------------------------------
# veo3api.ai / kie.ai — contracts/veo3api.md
# ---------------------------------------------------------------------------------------------

KIE_NOTE = (
    " Errors carry their code in `code` (401, 402, 422, 429, 455, 500, ...) and, by "
    "default, as the HTTP status (455 and 505 as 503, 501 as 500); a deployment with "
    "VEO3API_HTTP_ERROR_STATUS=0 sends them in HTTP 200 bodies like the vendor."
)
KIE_ERROR = ok(
    envelope(nullable(ANY), success_code=200),
    "The error code is in `code` and is also the HTTP status (455/505 → 503, 501 → 500); "
    "HTTP 200 when VEO3API_HTTP_ERROR_STATUS=0.",
)
# Every veo3api operation can answer these (bad input, key, credits, body size, limits, an
# unavailable dependency, an internal error).
KIE_ERRORS = dict.fromkeys((400, 401, 402, 405, 413, 422, 429, 500, 503), KIE_ERROR)
UPLOAD_ERROR = ok(
    obj(
        {"success": {"type": "boolean"}, "code": integer(), "msg": string(), "data": ANY},
        ("success", "code", "msg"),
    ),
    "`success: false`; the code is also the HTTP status unless VEO3API_HTTP_ERROR_STATUS=0.",
)
UPLOAD_ERRORS = dict.fromkeys((400, 401, 405, 413, 500, 503), UPLOAD_ERROR)
TASK_ID = OpenApiParameter(
    "taskId",
    str,
    OpenApiParameter.QUERY,
    required=True,
    description="`veo_task_…` id from generate",
)
TASK = obj({"taskId": string(example="veo_task_0123456789abcdef0123456789abcdef")})
RECORD = obj(
    {
        "taskId": string(),
        "paramJson": string("the request as a JSON string"),
        "completeTime": nullable(string("YYYY-MM-DD HH:MM:SS")),
        "createTime": string("YYYY-MM-DD HH:MM:SS"),
        "response": nullable(
            obj(
                {
                    "taskId": string(),
                    "resultUrls": STRINGS,
                    "originUrls": nullable(STRINGS),
                    "resolution": string(),
                    "fullResultUrls": STRINGS,
                    "imageUrls": STRINGS,
                    "mediaIds": STRINGS,
                }
            )
        ),
        "successFlag": integer(
            "0 generating, 1 success, 2 failed before start, 3 failed", enum=[0, 1, 2, 3]
        ),
        "errorCode": nullable(integer()),
        "errorMessage": nullable(string()),
        "fallbackFlag": {"type": "boolean"},
    }
)
UPLOADED = obj(
    {
        "success": {"type": "boolean"},
        "code": integer(),
        "msg": string(),
        "data": nullable(
            obj(
                {
                    "fileId": string(),
                    "fileName": string(),
                    "originalName": string(),
                    "filePath": string(),
                    "downloadUrl": string(format="uri"),
                    "fileUrl": string(format="uri"),
                    "fileSize": integer(),
                    "mimeType": string(),
                    "uploadPath": string(),
                    "uploadedAt": string(format="date-time"),
                    "expiresAt": nullable(string(format="date-time")),
                }
            )
        ),
    }
)
UPLOAD_NAMES = {"uploadPath": string(), "fileName": string()}

VEO3API_OPERATIONS = {
    ("GenerateApi", "POST"): Operation(
        TAG_VEO3API,
        "Generate a Veo 3 video",
        "`imageUrls`: 1 image = image-to-video, 2 = first and last frame, up to 3 with "
        "`REFERENCE_2_VIDEO`. Results through `record-info` or the `callBackUrl` callback."
        + KIE_NOTE,
        request={
            "application/json": obj(
                {
                    "prompt": string(minLength=1, maxLength=5000),
                    "imageUrls": STRINGS,
                    "model": string(enum=["veo3", "veo3_fast", "veo3_lite"]),
                    "aspectRatio": string(enum=["16:9", "9:16", "Auto"]),
                    "aspect_ratio": string("alias of aspectRatio"),
                    "generationType": string(
                        enum=["TEXT_2_VIDEO", "FIRST_AND_LAST_FRAMES_2_VIDEO", "REFERENCE_2_VIDEO"]
                    ),
                    "resolution": string(enum=["720p", "1080p", "4k"]),
                    "duration": integer(enum=[4, 6, 8]),
                    "seeds": integer(minimum=10000, maximum=99999),
                    "watermark": string(),
                    "callBackUrl": string(format="uri"),
                    "enableFallback": {"type": "boolean"},
                    "enableTranslation": {"type": "boolean"},
                },
                ("prompt",),
            )
        },
        responses={200: ok(envelope(nullable(TASK), success_code=200)), **KIE_ERRORS},
        operation_id="veo3api_generate",
    ),
    ("RecordInfoApi", "GET"): Operation(
        TAG_VEO3API,
        "Task details",
        "Status and result of any task." + KIE_NOTE,
        responses={200: ok(envelope(nullable(RECORD), success_code=200)), **KIE_ERRORS},
        parameters=(TASK_ID,),
        operation_id="veo3api_record_info",
    ),
    ("Get1080pVideoApi", "GET"): Operation(
        TAG_VEO3API,
        "1080p version",
        'Code 400 "1080P is processing…" until ready, then `data.resultUrl`.' + KIE_NOTE,
        responses={
            200: ok(envelope(nullable(obj({"resultUrl": string(format="uri")})), success_code=200)),
            **KIE_ERRORS,
        },
        parameters=(
            TASK_ID,
            OpenApiParameter(
                "index", int, OpenApiParameter.QUERY, description="result index, default 0"
            ),
        ),
        operation_id="veo3api_get_1080p",
    ),
    ("Get4kVideoApi", "POST"): Operation(
        TAG_VEO3API,
        "4K version",
        "200 on the call that starts it, then 422 while processing or once done." + KIE_NOTE,
        request={
            "application/json": obj(
                {"taskId": string(), "index": integer(), "callBackUrl": string(format="uri")},
                ("taskId",),
            )
        },
        responses={
            200: ok(
                envelope(
                    nullable(
                        obj(
                            {
                                "taskId": string(),
                                "resultUrls": nullable(STRINGS),
                                "imageUrls": nullable(STRINGS),
                            }
                        )
                    ),
                    success_code=200,
                )
            ),
            **KIE_ERRORS,
        },
        operation_id="veo3api_get_4k",
    ),
    ("ExtendApi", "POST"): Operation(
        TAG_VEO3API,
        "Extend a video",
        "Continues a generated video." + KIE_NOTE,
        request={
            "application/json": obj(
                {
                    "taskId": string(),
                    "prompt": string(minLength=1, maxLength=5000),
                    "model": string(enum=["fast", "quality", "lite"]),
                    "seeds": integer(minimum=10000, maximum=99999),
                    "watermark": string(),
                    "callBackUrl": string(format="uri"),
                },
                ("taskId", "prompt"),
            )
        },
        responses={200: ok(envelope(nullable(TASK), success_code=200)), **KIE_ERRORS},
        operation_id="veo3api_extend",
    ),
    ("CreditApi", "GET"): Operation(
        TAG_VEO3API,
        "Remaining credits",
        "`/api/v1/common/credit` (veo3api.ai) and `/api/v1/chat/credit` (kie)." + KIE_NOTE,
        responses={200: ok(envelope(nullable({"type": "number"}), success_code=200)), **KIE_ERRORS},
    ),
    ("DownloadUrlApi", "POST"): Operation(
        TAG_VEO3API,
        "Temporary download link",
        "A 20-minute download link for a file of this service." + KIE_NOTE,
        request={"application/json": obj({"url": string(format="uri")}, ("url",))},
        responses={
            200: ok(envelope(nullable(string(format="uri")), success_code=200)),
            **KIE_ERRORS,
        },
        operation_id="veo3api_download_url",
    ),
    ("FileStreamUploadApi", "POST"): Operation(
        TAG_VEO3API,
        "Upload a file (multipart)",
        "Images for `imageUrls`; kept 3 days.",
        request={
            "multipart/form-data": obj({"file": string(format="binary"), **UPLOAD_NAMES}, ("file",))
        },
        responses={200: ok(UPLOADED), **UPLOAD_ERRORS},
        operation_id="kie_file_stream_upload",
    ),
    ("FileBase64UploadApi", "POST"): Operation(
        TAG_VEO3API,
        "Upload a file (base64)",
        "Raw base64 or a `data:` URI.",
        request={
            "application/json": obj({"base64Data": string(), **UPLOAD_NAMES}, ("base64Data",))
        },
        responses={200: ok(UPLOADED), **UPLOAD_ERRORS},
        operation_id="kie_file_base64_upload",
    ),
    ("FileUrlUploadApi", "POST"): Operation(
        TAG_VEO3API,
        "Upload a file from a URL",
        "The server fetches a public URL.",
        request={
            "application/json": obj({"fileUrl": string(format="uri"), **UPLOAD_NAMES}, ("fileUrl",))
        },
        responses={200: ok(UPLOADED), **UPLOAD_ERRORS},
        operation_id="kie_file_url_upload",
    ),
}
