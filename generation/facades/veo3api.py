"""The veo3api.ai / kie.ai Veo API (contracts/veo3api.md): Bearer auth, `{code, msg, data}`.

Codes (carried in the body and, by default, as the HTTP status too; VEO3API_HTTP_ERROR_STATUS=0
sends every error in an HTTP 200 body like the vendor — README A1): 200 success; 400
content/input problem and "1080P is processing…"; 401 authentication; 402 insufficient credits;
405 wrong method; 422 validation (the message names the field), unknown task ("record is
null."), records older than 14 days, source not successful, 4K already requested; 429 rate or
concurrency limit (with Retry-After); 500 internal error. Unknown fields are ignored. Task ids
are `veo_task_<32 hex>` (extensions `veo_extend_task_<32 hex>`); a lookup accepts any string of
at most 64 characters.

How a job is rendered (record-info, callbacks) is in `veo3api_shapes`; the download links and
the whole video of an extension are served by `veo3api_media`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from rest_framework.response import Response

from accounts.typing import AuthenticatedRequest
from billing.catalog import (
    ASPECT_RATIOS,
    DEFAULT_ASPECT_RATIO,
    DEFAULT_DURATION,
    DEFAULT_RESOLUTION,
    DEFAULT_TIER,
    DURATIONS,
    RESOLUTIONS,
    Tier,
)
from billing.selectors import balance_get
from generation.delivery import job_video_url
from generation.errors import MSG_INTERNAL
from generation.facades.common import (
    FieldError,
    idempotency_key,
    json_object,
    optional_bool,
    optional_int,
    optional_str,
    optional_str_list,
    required_str,
    strict_int,
)
from generation.facades.status_read import (
    ALLOW_GET,
    FAST_METHODS,
    accepts_json,
    bearer_token,
    json_response,
    status_read,
    status_remember,
)
from generation.facades.veo3api_base import (
    EXTEND_MODELS,
    FIRST_LAST,
    MSG_4K_DONE,
    MSG_4K_PROCESSING,
    MSG_1080P_PROCESSING,
    MSG_RECORD_NULL,
    MSG_SUCCESS,
    MSG_TOO_OLD,
    MSG_UNAUTHORIZED,
    REFERENCE,
    SEED_RANGE,
    TASK_ID_MAX,
    TEXT,
    Veo3ApiView,
    check_retention,
    envelope,
    http_status,
    job_for_task,
    task_uuid,
)
from generation.facades.veo3api_media import download_url
from generation.facades.veo3api_shapes import MODELS, image_urls, record_data, result_urls
from generation.models import Job
from generation.services import ImageInput, JobSpec, job_submit
from generation.services.upgrades import (
    RECORD_RETENTION,
    extend_submit,
    upgrade_await,
    upgrade_request,
    upgrade_was_prepared,
)

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Endpoints
# ---------------------------------------------------------------------------------------------


def _seed(body: dict[str, Any]) -> int | None:
    seed = optional_int(body, "seeds")
    if seed is not None and not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise FieldError("seeds", f"must be between {SEED_RANGE[0]} and {SEED_RANGE[1]}")
    return seed


def _aspect_ratio(body: dict[str, Any]) -> tuple[str, str]:
    """README A2: `aspect_ratio` wins over `aspectRatio`; `Auto` in any case → auto."""
    key = "aspect_ratio" if body.get("aspect_ratio") not in (None, "") else "aspectRatio"
    raw = optional_str(body, key, max_length=10).lower()
    if not raw:
        return DEFAULT_ASPECT_RATIO, key
    if raw not in (*ASPECT_RATIOS, "auto"):
        raise FieldError(key, "must be 16:9, 9:16 or Auto")
    return raw, key


def _mode(body: dict[str, Any], images: list[str], model_tier: str) -> str:
    """generationType, inferred from the number of images when absent (README A4)."""
    generation_type = optional_str(body, "generationType", max_length=40).upper()
    count = len(images)
    if not generation_type:
        mode = {0: Job.Mode.TEXT, 1: Job.Mode.IMAGE, 2: Job.Mode.FIRST_LAST}.get(
            count, Job.Mode.REFERENCE
        )
    elif generation_type == TEXT:
        if count:
            raise FieldError("imageUrls", "must be empty for TEXT_2_VIDEO")
        mode = Job.Mode.TEXT
    elif generation_type == FIRST_LAST:
        if count not in (1, 2):
            raise FieldError(
                "imageUrls", "must hold 1 or 2 images for FIRST_AND_LAST_FRAMES_2_VIDEO"
            )
        mode = Job.Mode.IMAGE if count == 1 else Job.Mode.FIRST_LAST
    elif generation_type == REFERENCE:
        if not 1 <= count <= 3:
            raise FieldError("imageUrls", "must hold 1 to 3 images for REFERENCE_2_VIDEO")
        mode = Job.Mode.REFERENCE
    else:
        raise FieldError("generationType", f"must be one of {TEXT}, {FIRST_LAST}, {REFERENCE}")
    if mode == Job.Mode.REFERENCE and model_tier == Tier.QUALITY:
        raise FieldError("model", "must be veo3_fast or veo3_lite for reference images")
    return mode


class GenerateApi(Veo3ApiView):
    """POST /api/v1/veo/generate (contract §2)."""

    def post(self, request: AuthenticatedRequest) -> Response:
        body = json_object(request)
        prompt = required_str(body, "prompt", max_length=settings.GENERATION_PROMPT_MAX_CHARS)
        model = optional_str(body, "model", max_length=40) or settings.VEO3API_DEFAULT_MODEL
        if model not in MODELS:
            raise FieldError("model", f"must be one of {', '.join(MODELS)}")
        model_tier = MODELS[model]
        aspect, aspect_key = _aspect_ratio(body)
        images = optional_str_list(body, "imageUrls", max_items=3)
        mode = _mode(body, images, model_tier)
        resolution = optional_str(body, "resolution", max_length=10).lower() or DEFAULT_RESOLUTION
        # The vocabulary here; what the model behind `model` takes, the catalog checks in
        # job_validate (its refusal names the allowed values).
        if resolution not in RESOLUTIONS:
            raise FieldError("resolution", f"must be one of {', '.join(RESOLUTIONS)}")
        duration = optional_int(body, "duration")
        duration = DEFAULT_DURATION if duration is None else duration
        if duration not in DURATIONS:
            raise FieldError("duration", f"must be between {DURATIONS[0]} and {DURATIONS[-1]}")
        seed = _seed(body)
        watermark = optional_str(body, "watermark", max_length=200)
        callback = optional_str(body, "callBackUrl", max_length=2048)
        # Accepted and kept in paramJson; translation and fallback models are not used (A13).
        optional_bool(body, "enableTranslation", True)
        optional_bool(body, "enableFallback", False)
        # Our extension: audio on (default) or off, for models that can switch it off.
        generate_audio = optional_bool(body, "generateAudio", True)
        spec = JobSpec(
            facade=Job.Facade.VEO3API,
            prompt=prompt,
            mode=mode,
            model_tier=model_tier,
            aspect_ratio=aspect,
            resolution=resolution,
            duration_seconds=duration,
            seed=seed,
            images=tuple(ImageInput(url=url) for url in images),
            watermark=watermark,
            generate_audio=generate_audio,
            callback_url=callback,
            raw_request=body,
        )
        self.field_aliases = {"aspectRatio": aspect_key}
        submitted = job_submit(
            user=request.user,
            spec=spec,
            api_key=request.auth,
            idempotency_key=idempotency_key(request),
        )
        return envelope(200, MSG_SUCCESS, {"taskId": submitted.job.task_id})


class RecordInfoApi(Veo3ApiView):
    """GET /api/v1/veo/record-info?taskId= (contract §3).

    GET and HEAD answer from the job's status snapshot without DRF (generation.facades.
    status_read), with the same bytes; other methods, and an Accept header DRF would refuse,
    take DRF's way."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method not in FAST_METHODS or not accepts_json(request):
            return super().dispatch(request, *args, **kwargs)
        try:
            return self.fast_get(request)
        except Exception:
            logger.exception("veo3api record-info failed")
            return self.plain(500, MSG_INTERNAL)

    def plain(
        self, code: int, msg: str, data: Any = None, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        return json_response(
            {"code": code, "msg": msg, "data": data},
            http_status(code),
            {"Allow": ALLOW_GET, **(headers or {})},
        )

    def fast_get(self, request: HttpRequest) -> HttpResponse:
        task_id = request.GET.get("taskId")
        pk = task_uuid(task_id) if task_id and len(task_id) <= TASK_ID_MAX else None
        read = status_read(request, token=bearer_token(request), job_id=pk, memo_tag="kie")
        if read.answer is not None:
            return read.answer
        if read.refusal == "auth":
            return self.plain(401, MSG_UNAUTHORIZED, None, {"WWW-Authenticate": "Bearer"})
        if read.refusal == "scope":
            return self.plain(403, read.message)
        if not task_id:
            return self.plain(422, "taskId is required")
        if len(task_id) > TASK_ID_MAX:
            return self.plain(422, f"taskId must be at most {TASK_ID_MAX} characters")
        job = read.job
        if job is None:
            return self.plain(422, MSG_RECORD_NULL)
        too_old_at = job.created_at + RECORD_RETENTION
        if too_old_at < timezone.now():
            return self.plain(422, MSG_TOO_OLD)
        response = self.plain(200, MSG_SUCCESS, record_data(job, request))
        return status_remember(read, response, until=too_old_at.timestamp())

    def get(self, request: AuthenticatedRequest) -> Response:
        job = job_for_task(request.user, request.query_params.get("taskId"))
        check_retention(job)
        return envelope(200, MSG_SUCCESS, record_data(job, request))


def _index(value: Any) -> int:
    if value is None or value == "":
        return 0
    try:
        number = strict_int("index", value)
    except FieldError:
        number = -1
    if number < 0:
        raise FieldError("index", "must be a whole number of 0 or more")
    return number


class Get1080pVideoApi(Veo3ApiView):
    """GET /api/v1/veo/get-1080p-video?taskId=&index= (contract §4, README A12).

    The 1080p version of a 16:9 720p task is prepared when the task succeeds
    (GENERATION_AUTO_1080P), so the first call answers code 200 with `data.resultUrl` as kie's
    does (waiting up to GENERATION_AUTO_1080P_WAIT_SECONDS if it is still rendering). Otherwise
    the first call creates the upgrade job (priced `upgrade_1080p`); until it is done every
    call answers code 400 "1080P is processing…", then code 200 with `data.resultUrl`. An
    optional `callBackUrl` query parameter (our addition) gets the upgrade's own callback.
    """

    key_scope = "generate"  # an upgrade, though a GET

    def get(self, request: AuthenticatedRequest) -> Response:
        params = request.query_params
        parent = job_for_task(request.user, params.get("taskId"))
        check_retention(parent)
        index = _index(params.get("index"))
        callback = optional_str(dict(params.items()), "callBackUrl", max_length=2048)
        raw = {"taskId": params.get("taskId"), "index": index}
        if callback:
            raw["callBackUrl"] = callback
        result = upgrade_request(
            user=request.user,
            parent=parent,
            kind=Job.Kind.UPGRADE_1080P,
            result_index=index,
            callback_url=callback,
            raw_request=raw,
            api_key=request.auth,
        )
        job = result.job
        if upgrade_was_prepared(job):
            # Prepared when the task succeeded (GENERATION_AUTO_1080P); kie has it ready.
            job = upgrade_await(job=job, seconds=settings.GENERATION_AUTO_1080P_WAIT_SECONDS)
        if job.state == Job.State.SUCCEEDED:
            return envelope(200, MSG_SUCCESS, {"resultUrl": job_video_url(job, request)})
        return envelope(400, MSG_1080P_PROCESSING, None)


class Get4kVideoApi(Veo3ApiView):
    """POST /api/v1/veo/get-4k-video (contract §5): 200 on the call that creates the upgrade,
    then 422 "4k is processing…" or 422 "The video has been generated successfully"."""

    def post(self, request: AuthenticatedRequest) -> Response:
        body = json_object(request)
        parent = job_for_task(request.user, body.get("taskId"))
        check_retention(parent)
        index = _index(body.get("index"))
        callback = optional_str(body, "callBackUrl", max_length=2048)
        result = upgrade_request(
            user=request.user,
            parent=parent,
            kind=Job.Kind.UPGRADE_4K,
            result_index=index,
            callback_url=callback,
            raw_request=body,
            api_key=request.auth,
        )
        job = result.job
        data: dict[str, Any] = {"taskId": job.task_id, "resultUrls": None, "imageUrls": None}
        if result.created:
            return envelope(200, MSG_SUCCESS, data)
        if job.state == Job.State.SUCCEEDED:
            data.update(resultUrls=result_urls(job, request), imageUrls=image_urls(job, request))
            return envelope(422, MSG_4K_DONE, data)
        return envelope(422, MSG_4K_PROCESSING, data)


class ExtendApi(Veo3ApiView):
    """POST /api/v1/veo/extend (contract §6)."""

    def post(self, request: AuthenticatedRequest) -> Response:
        body = json_object(request)
        prompt = required_str(body, "prompt", max_length=settings.GENERATION_PROMPT_MAX_CHARS)
        model = optional_str(body, "model", max_length=20) or DEFAULT_TIER
        if model not in EXTEND_MODELS:
            raise FieldError("model", f"must be one of {', '.join(EXTEND_MODELS)}")
        seed = _seed(body)
        watermark = optional_str(body, "watermark", max_length=200)
        callback = optional_str(body, "callBackUrl", max_length=2048)
        optional_bool(body, "enableTranslation", True)
        parent = job_for_task(request.user, body.get("taskId"))
        check_retention(parent)
        submitted = extend_submit(
            user=request.user,
            parent=parent,
            prompt=prompt,
            model_tier=model,
            seed=seed,
            watermark=watermark,
            callback_url=callback,
            raw_request=body,
            api_key=request.auth,
            idempotency_key=idempotency_key(request),
        )
        return envelope(200, MSG_SUCCESS, {"taskId": submitted.job.task_id})


class CreditApi(Veo3ApiView):
    """GET /api/v1/common/credit (veo3api.ai) and /api/v1/chat/credit (kie): available
    credits as a bare integer (README A15)."""

    def get(self, request: AuthenticatedRequest) -> Response:
        return envelope(200, MSG_SUCCESS, balance_get(user=request.user).available)


# ---------------------------------------------------------------------------------------------
# Temporary download links (contract §7.2)
# ---------------------------------------------------------------------------------------------


class DownloadUrlApi(Veo3ApiView):
    """POST /api/v1/common/download-url: a link to one of the account's files of this
    service, valid for 20 minutes (a signed, timestamped token); foreign URLs → 422."""

    key_scope = "read"  # a download, though a POST

    def post(self, request: AuthenticatedRequest) -> Response:
        body = json_object(request)
        url = required_str(body, "url", max_length=2048)
        link = download_url(request.user, url, request)
        if link is None:
            raise FieldError("url", "is not a file of this service")
        return envelope(200, MSG_SUCCESS, link)
