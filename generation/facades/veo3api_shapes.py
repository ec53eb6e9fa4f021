"""How a Job looks in the veo3api.ai / kie wire format: record-info `data`, and the callback
bodies of contracts/veo3api.md §8.1 (generate, extend, 1080p) and §8.2 (4K), README A5-A13.

Pure rendering from a Job (no writes); used by the facade's endpoints and by
generation.facades.callbacks. URLs are permanent URLs of this service (PUBLIC_BASE_URL when
set, else the request's host, else the local default).
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from billing.catalog import DEFAULT_ASPECT_RATIO, Tier
from generation.delivery import absolute_url, job_poster_url, job_video_url
from generation.errors import CODE_CONTENT, MSG_INTERNAL
from generation.models import Job

MSG_4K_UNAVAILABLE = "The 4K version of this video is unavailable. Please try a different video."
CALLBACK_MESSAGES: dict[str, str] = {
    Job.Kind.GENERATE: "Veo3.1 video generated successfully.",
    Job.Kind.EXTEND: "Veo3.1 video extension successful.",
    Job.Kind.UPGRADE_1080P: "1080P video generated successfully.",
    Job.Kind.UPGRADE_4K: "4K Video generated successfully.",
}

MODELS = {"veo3": Tier.QUALITY.value, "veo3_fast": Tier.FAST.value, "veo3_lite": Tier.LITE.value}
MODEL_NAMES = {tier: name for name, tier in MODELS.items()}


def kie_time(moment: Any) -> str | None:
    """README A6: `YYYY-MM-DD HH:MM:SS` in UTC, None when unset."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def success_flag(job: Job) -> int:
    """README §3 / A5: 0 generating, 1 success, 2 failed before the generation, 3 failed in it."""
    if job.state == Job.State.SUCCEEDED:
        return 1
    if job.state == Job.State.FAILED:
        return 3 if job.failure_stage == Job.FailureStage.GENERATION else 2
    if job.state == Job.State.CANCELLED:
        return 2
    return 0


def error_code(job: Job) -> int:
    """kie's failure code; kie has no cancelled status, so a cancel is a 400 (the request's
    own outcome, never retried as an internal error) with "Cancelled by the customer."."""
    if job.state == Job.State.CANCELLED:
        return CODE_CONTENT
    return job.error_code or 500


def full_video_url(job: Job, request: HttpRequest | None) -> str:
    return absolute_url(reverse("veo3api-full-video", args=[job.id]), request)


def result_urls(job: Job, request: HttpRequest | None) -> list[str]:
    url = job_video_url(job, request)
    return [url] if url else []


def image_urls(job: Job, request: HttpRequest | None) -> list[str]:
    url = job_poster_url(job, request)
    return [url] if url else []


def response_data(job: Job, request: HttpRequest | None) -> dict[str, Any] | None:
    """record-info `response`: null until the task succeeded."""
    if job.state != Job.State.SUCCEEDED:
        return None
    if job.kind == Job.Kind.UPGRADE_4K:  # mirrors the 4K callback (contract §3)
        return {
            "taskId": job.task_id,
            "resultUrls": result_urls(job, request),
            "imageUrls": image_urls(job, request),
            "mediaIds": [job.id.hex],
            "resolution": job.resolution,
        }
    data: dict[str, Any] = {
        "taskId": job.task_id,
        "resultUrls": result_urls(job, request),
        # Rendered natively in the asked aspect ratio: there is no separate "original".
        "originUrls": None,
        "resolution": job.resolution,
    }
    if job.kind == Job.Kind.EXTEND:
        data["fullResultUrls"] = [full_video_url(job, request)]
    return data


def record_data(job: Job, request: HttpRequest | None) -> dict[str, Any]:
    """record-info `data` (README A27: a full object from the first moment)."""
    failed = job.state in (Job.State.FAILED, Job.State.CANCELLED)
    data: dict[str, Any] = {
        "taskId": job.task_id,
        "paramJson": json.dumps(job.raw_request, ensure_ascii=False),
        "completeTime": kie_time(job.completed_at),
        "response": response_data(job, request),
        "successFlag": success_flag(job),
        "errorCode": error_code(job) if failed else None,
        "errorMessage": (job.error_message or MSG_INTERNAL)
        if failed
        else ("" if job.state == Job.State.SUCCEEDED else None),
        "createTime": kie_time(job.created_at),
    }
    if job.kind != Job.Kind.UPGRADE_4K:
        data["fallbackFlag"] = False  # README A13: no fallback model is ever used
    return data


def prompt_json(job: Job) -> str:
    """README A8: the request as a JSON string, keys sorted, defaults filled."""
    raw = dict(job.raw_request)
    if job.kind == Job.Kind.GENERATE:
        defaults: dict[str, Any] = {
            "callBackUrl": job.callback_url or None,
            "enableFallback": False,
            "enableTranslation": True,
            "model": MODEL_NAMES.get(job.model_tier, job.model_tier),
            "prompt": job.prompt,
        }
        if "aspect_ratio" not in raw:
            defaults["aspectRatio"] = DEFAULT_ASPECT_RATIO
        raw = {**defaults, **raw}
    return json.dumps(raw, sort_keys=True, ensure_ascii=False)


def callback_body(job: Job) -> dict[str, Any]:
    """The kie callback for a finished job (§8.1 generate/extend/1080p, §8.2 4K; A7-A9)."""
    if job.kind == Job.Kind.UPGRADE_4K:
        if job.state != Job.State.SUCCEEDED:
            return {
                "code": 500,
                "msg": MSG_4K_UNAVAILABLE,
                "data": {"taskId": job.task_id, "task_id": job.task_id},
            }
        results, images = result_urls(job, None), image_urls(job, None)
        return {
            "code": 200,
            "msg": CALLBACK_MESSAGES[job.kind],
            "data": {
                "taskId": job.task_id,
                "info": {"resultUrls": results, "imageUrls": images},
                "creditsConsumed": job.credits_charged,
                # A9: the snake-case mirror of kie's OpenAPI callback schema, additive.
                "task_id": job.task_id,
                "result_urls": results,
                "media_ids": [job.id.hex],
                "image_urls": images,
            },
        }
    if job.state != Job.State.SUCCEEDED:
        return {
            "code": error_code(job),
            "msg": job.error_message or MSG_INTERNAL,
            "data": {"taskId": job.task_id, "fallbackFlag": False},
        }
    info: dict[str, Any] = {
        "resultUrls": result_urls(job, None),
        "originUrls": None,
        "resolution": job.resolution,
    }
    if job.kind == Job.Kind.EXTEND:
        info["fullResultUrls"] = [full_video_url(job, None)]
    return {
        "code": 200,
        "msg": CALLBACK_MESSAGES.get(job.kind, CALLBACK_MESSAGES["generate"]),
        "data": {
            "taskId": job.task_id,
            "info": info,
            "fallbackFlag": False,
            "promptJson": prompt_json(job),
        },
    }
