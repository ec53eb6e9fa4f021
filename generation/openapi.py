"""The OpenAPI description of the three facades (and the top-up API), for drf-spectacular.

The facade APIViews parse their bodies by hand (each vendor's exact quirks), so there are no
serializers to introspect. Rather than decorate every view in the facade modules, this module
holds one table, `OPERATIONS`, keyed by view module, class and method, and `FacadeAutoSchema`
(the project's DEFAULT_SCHEMA_CLASS) reads it. `postprocess_schema` adds `GET /` (codefast's
key check is a plain Django view) and this server's base URL. Contracts: shared contracts/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

Schema = dict[str, Any]

TAG_VEO3O1 = "veo3o1"
TAG_VEO3API = "veo3api.ai / kie.ai"
TAG_CODEFAST = "codefast"
TAG_BILLING = "billing"


def obj(
    properties: dict[str, Schema], required: tuple[str, ...] = (), description: str = ""
) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def string(description: str = "", **extra: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def integer(description: str = "", **extra: Any) -> Schema:
    return {"type": "integer", **({"description": description} if description else {}), **extra}


def nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


STRINGS: Schema = {"type": "array", "items": {"type": "string"}}
ANY: Schema = {}


def envelope(data: Schema, *, success_code: int, description: str = "") -> Schema:
    """`{code, msg, data}` (veo3o1 succeeds with code 0, veo3api/kie with code 200)."""
    return obj(
        {
            "code": integer(f"{success_code} on success; an error code otherwise."),
            "msg": string(),
            "data": data,
        },
        ("code", "msg", "data"),
        description,
    )


@dataclass(frozen=True)
class Operation:
    tag: str
    summary: str
    description: str = ""
    request: dict[str, Schema] | None = None  # media type -> schema
    responses: dict[int, OpenApiResponse] = field(default_factory=dict)
    parameters: tuple[OpenApiParameter, ...] = ()
    operation_id: str = ""


def ok(schema: Schema, description: str = "", example: Any = None) -> OpenApiResponse:
    examples = [OpenApiExample("example", value=example, response_only=True)] if example else []
    return OpenApiResponse(response=schema, description=description, examples=examples)


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

_VEO3O1 = {
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
                    "prompt": string(maxLength=5000),
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
    " Errors arrive in HTTP 200 bodies with the code in `code` (401, 402, 422, 429, "
    "500, ...) unless VEO3API_HTTP_ERROR_STATUS=1."
)
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

_VEO3API = {
    ("GenerateApi", "POST"): Operation(
        TAG_VEO3API,
        "Generate a Veo 3 video",
        "`imageUrls`: 1 image = image-to-video, 2 = first and last frame, up to 3 with "
        "`REFERENCE_2_VIDEO`. Results through `record-info` or the `callBackUrl` callback."
        + KIE_NOTE,
        request={
            "application/json": obj(
                {
                    "prompt": string(),
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
        responses={200: ok(envelope(nullable(TASK), success_code=200))},
        operation_id="veo3api_generate",
    ),
    ("RecordInfoApi", "GET"): Operation(
        TAG_VEO3API,
        "Task details",
        "Status and result of any task." + KIE_NOTE,
        responses={200: ok(envelope(nullable(RECORD), success_code=200))},
        parameters=(TASK_ID,),
        operation_id="veo3api_record_info",
    ),
    ("Get1080pVideoApi", "GET"): Operation(
        TAG_VEO3API,
        "1080p version",
        'Code 400 "1080P is processing…" until ready, then `data.resultUrl`.' + KIE_NOTE,
        responses={
            200: ok(envelope(nullable(obj({"resultUrl": string(format="uri")})), success_code=200))
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
            )
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
                    "prompt": string(),
                    "model": string(enum=["fast", "quality", "lite"]),
                    "seeds": integer(minimum=10000, maximum=99999),
                    "watermark": string(),
                    "callBackUrl": string(format="uri"),
                },
                ("taskId", "prompt"),
            )
        },
        responses={200: ok(envelope(nullable(TASK), success_code=200))},
        operation_id="veo3api_extend",
    ),
    ("CreditApi", "GET"): Operation(
        TAG_VEO3API,
        "Remaining credits",
        "`/api/v1/common/credit` (veo3api.ai) and `/api/v1/chat/credit` (kie)." + KIE_NOTE,
        responses={200: ok(envelope(nullable({"type": "number"}), success_code=200))},
    ),
    ("DownloadUrlApi", "POST"): Operation(
        TAG_VEO3API,
        "Temporary download link",
        "A 20-minute download link for a file of this service." + KIE_NOTE,
        request={"application/json": obj({"url": string(format="uri")}, ("url",))},
        responses={200: ok(envelope(nullable(string(format="uri")), success_code=200))},
        operation_id="veo3api_download_url",
    ),
    ("FileStreamUploadApi", "POST"): Operation(
        TAG_VEO3API,
        "Upload a file (multipart)",
        "Images for `imageUrls`; kept 3 days.",
        request={
            "multipart/form-data": obj({"file": string(format="binary"), **UPLOAD_NAMES}, ("file",))
        },
        responses={200: ok(UPLOADED)},
        operation_id="kie_file_stream_upload",
    ),
    ("FileBase64UploadApi", "POST"): Operation(
        TAG_VEO3API,
        "Upload a file (base64)",
        "Raw base64 or a `data:` URI.",
        request={
            "application/json": obj({"base64Data": string(), **UPLOAD_NAMES}, ("base64Data",))
        },
        responses={200: ok(UPLOADED)},
        operation_id="kie_file_base64_upload",
    ),
    ("FileUrlUploadApi", "POST"): Operation(
        TAG_VEO3API,
        "Upload a file from a URL",
        "The server fetches a public URL.",
        request={
            "application/json": obj({"fileUrl": string(format="uri"), **UPLOAD_NAMES}, ("fileUrl",))
        },
        responses={200: ok(UPLOADED)},
        operation_id="kie_file_url_upload",
    ),
}

# ---------------------------------------------------------------------------------------------
# codefast — contracts/codefast.md
# ---------------------------------------------------------------------------------------------

CODEFAST_ERROR = ok(
    obj({"detail": string()}, ("detail",)),
    "FastAPI-style error: 401 key, 404 job, 409 idempotency, 422 input, "
    "429 daily limit / credits / rate",
)
LIMITS = {"daily_limit": integer(), "daily_limit_remaining": integer()}
CODEFAST_JOB = {
    "job_id": string(format="uuid"),
    "status": string(enum=["queued", "processing", "completed", "failed"]),
    "queue_position": integer(),
    "total_in_queue": integer(),
    "aspect_ratio": string(enum=["16:9", "9:16"]),
    "duration_seconds": integer(enum=[4, 6, 8]),
    "has_image": {"type": "boolean"},
}
STAMP = string('"DD.MM.YYYY HH:MM:SS" or ""')

_CODEFAST = {
    ("GenerateApi", "POST"): Operation(
        TAG_CODEFAST,
        "Create a video",
        "`image`: optional base64 (or a data: URI) for image-to-video.",
        request={
            "application/json": obj(
                {
                    "prompt": string(),
                    "aspect_ratio": string(enum=["16:9", "9:16"], default="16:9"),
                    "duration_seconds": integer(enum=[4, 6, 8], default=8),
                    "image": string(),
                },
                ("prompt",),
            )
        },
        responses={
            200: ok(obj({**CODEFAST_JOB, **LIMITS})),
            401: CODEFAST_ERROR,
            422: CODEFAST_ERROR,
            429: CODEFAST_ERROR,
        },
        operation_id="codefast_generate",
    ),
    ("StatusApi", "GET"): Operation(
        TAG_CODEFAST,
        "Video status",
        "Poll every 3-5 s.",
        responses={
            200: ok(
                obj(
                    {
                        **CODEFAST_JOB,
                        "video_url": string(),
                        "error": string(),
                        "created_at": STAMP,
                        "started_at": STAMP,
                        "completed_at": STAMP,
                        **LIMITS,
                    }
                )
            ),
            401: CODEFAST_ERROR,
            404: CODEFAST_ERROR,
        },
        parameters=(OpenApiParameter("job_id", str, OpenApiParameter.PATH),),
        operation_id="codefast_status",
    ),
    ("VideosApi", "GET"): Operation(
        TAG_CODEFAST,
        "Finished videos",
        "Completed videos, newest first.",
        responses={
            200: ok(
                obj(
                    {
                        "count": integer(),
                        "videos": {
                            "type": "array",
                            "items": obj(
                                {
                                    "job_id": string(format="uuid"),
                                    "video_url": string(format="uri"),
                                    "created_at": STAMP,
                                    "metadata": obj(
                                        {
                                            "aspect_ratio": string(),
                                            "duration_seconds": integer(),
                                            "resolution": string(),
                                            "has_image": {"type": "boolean"},
                                        }
                                    ),
                                }
                            ),
                        },
                        **LIMITS,
                    }
                )
            ),
            401: CODEFAST_ERROR,
        },
        operation_id="codefast_videos",
    ),
}

# ---------------------------------------------------------------------------------------------
# Top-ups — dashboard/apis/topups.py
# ---------------------------------------------------------------------------------------------

BILLING_ERROR = ok(
    envelope(nullable(ANY), success_code=200),
    "The HTTP status equals `code` (400, 401, 404, 422, 503 payments off).",
)
_BILLING = {
    ("CreditPackListApi", "GET"): Operation(
        TAG_BILLING,
        "Credit packs on sale",
        responses={
            200: ok(
                envelope(
                    {
                        "type": "array",
                        "items": obj(
                            {
                                "id": integer(),
                                "name": string(),
                                "credits": integer(),
                                "price": integer("minor units (cents)"),
                                "currency": string(),
                            }
                        ),
                    },
                    success_code=200,
                )
            ),
            401: BILLING_ERROR,
        },
        operation_id="billing_packs",
    ),
    ("CheckoutSessionCreateApi", "POST"): Operation(
        TAG_BILLING,
        "Buy a pack (Stripe Checkout)",
        "Open `data.url` in a browser to pay; credits are added once the payment clears.",
        request={"application/json": obj({"pack": integer(minimum=1)}, ("pack",))},
        responses={
            200: ok(
                envelope(
                    obj(
                        {
                            "id": string(),
                            "url": string(format="uri"),
                            "topup": string(format="uuid"),
                        }
                    ),
                    success_code=200,
                )
            ),
            401: BILLING_ERROR,
            404: BILLING_ERROR,
            422: BILLING_ERROR,
            503: BILLING_ERROR,
        },
        operation_id="billing_checkout_session",
    ),
}

OPERATIONS: dict[tuple[str, str, str], Operation] = {
    **{("dashboard.apis.topups", cls, method): op for (cls, method), op in _BILLING.items()},
    **{("generation.facades.veo3o1", cls, method): op for (cls, method), op in _VEO3O1.items()},
    **{
        ("generation.facades.veo3api", cls, method): op
        for (cls, method), op in _VEO3API.items()
        if not cls.startswith("File")
    },
    **{
        ("generation.facades.kie_uploads", cls, method): op
        for (cls, method), op in _VEO3API.items()
        if cls.startswith("File")
    },
    **{("generation.facades.codefast", cls, method): op for (cls, method), op in _CODEFAST.items()},
}


class FacadeAutoSchema(AutoSchema):
    """Describes the views listed in `OPERATIONS`; any other view gets spectacular's defaults
    (so a new APIView without a description shows up as a schema warning in the tests)."""

    def _operation(self) -> Operation | None:
        view = type(self.view)
        return OPERATIONS.get((view.__module__, view.__name__, self.method))

    def get_request_serializer(self) -> Any:
        op = self._operation()
        if op is not None:
            return op.request
        return super().get_request_serializer()

    def get_response_serializers(self) -> Any:
        op = self._operation()
        if op is not None:
            return op.responses or None
        return super().get_response_serializers()

    def get_override_parameters(self) -> list[Any]:
        op = self._operation()
        return [*super().get_override_parameters(), *(op.parameters if op else ())]

    def get_tags(self) -> list[str]:
        op = self._operation()
        return [op.tag] if op else super().get_tags()

    def get_summary(self) -> str | None:
        op = self._operation()
        return op.summary if op else super().get_summary()

    def get_description(self) -> str:
        op = self._operation()
        return op.description if op else super().get_description()

    def get_operation_id(self) -> str:
        op = self._operation()
        if op is not None and op.operation_id:
            return op.operation_id
        return super().get_operation_id()


class BearerApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerApiKeyAuthentication"
    name = "bearerApiKey"

    def get_security_definition(self, auto_schema: AutoSchema) -> Schema:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer <API key>` (veo3o1, veo3api/kie, "
            "billing). Create keys in the dashboard.",
        }


class HeaderApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.HeaderApiKeyAuthentication"
    name = "xApiKey"

    def get_security_definition(self, auto_schema: AutoSchema) -> Schema:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "`X-API-Key: <API key>` (codefast).",
        }


def postprocess_schema(
    result: Schema,
    generator: Any,
    request: HttpRequest | None = None,
    public: bool = True,
    **kwargs: Any,
) -> Schema:
    """Add codefast's `GET /` (a plain view that hands keyed requests to its APIView) and
    this server's base URL as the server."""
    result.setdefault("paths", {})["/"] = {
        "get": {
            "operationId": "codefast_key_check",
            "summary": "Check an API key",
            "description": 'Answers exactly {"message": "Veo 3 Fast Video Generator API '
            'running"}. Browsers without a key are redirected to /dashboard/.',
            "tags": [TAG_CODEFAST],
            "security": [{"xApiKey": []}],
            "responses": {
                "200": {
                    "description": "",
                    "content": {
                        "application/json": {"schema": obj({"message": string()}, ("message",))}
                    },
                },
                "401": {
                    "description": "",
                    "content": {
                        "application/json": {"schema": obj({"detail": string()}, ("detail",))}
                    },
                },
            },
        }
    }
    base = settings.PUBLIC_BASE_URL or (
        request.build_absolute_uri("/").rstrip("/") if request is not None else ""
    )
    if base:
        result["servers"] = [{"url": base}]
    return result
