"""Operations of codefast (contracts/codefast.md) and the top-up API (dashboard/apis/topups.py)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter

from generation.openapi.shapes import (
    ANY,
    TAG_BILLING,
    TAG_CODEFAST,
    Operation,
    envelope,
    integer,
    nullable,
    obj,
    ok,
    string,
)

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

CODEFAST_OPERATIONS = {
    ("GenerateApi", "POST"): Operation(
        TAG_CODEFAST,
        "Create a video",
        "`image`: optional base64 (or a data: URI) for image-to-video.",
        request={
            "application/json": obj(
                {
                    "prompt": string(minLength=1, maxLength=5000),
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
BILLING_OPERATIONS = {
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
