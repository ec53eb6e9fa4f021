"""The customer dashboard's video pages (server-rendered, session login): home, new video, the
live price, job history and a job's page. Views parse a form, call generation/billing services
and selectors, and render. The JSON endpoints (`price`, `status`) serve the pages' small
scripts with the session: they are read only (GET), so CSRF does not apply; every form that
writes is a CSRF-protected POST.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.typing import AuthenticatedHttpRequest
from billing.errors import InsufficientCredits
from billing.selectors import balance_get, transfers_for_job
from dashboard.forms import MODE_LABELS, STATE_LABELS, HistoryFilterForm, PriceForm, VideoForm
from generation import images
from generation.delivery import job_poster_url, job_video_url, upload_url
from generation.models import Job
from generation.selectors import (
    QueuePlace,
    callback_deliveries_for_job,
    daily_limit_resets_at,
    daily_usage,
    job_counts,
    job_eta_seconds,
    job_get,
    job_get_by_idempotency_key,
    job_price_check,
    job_queue_place,
    jobs_filtered_for_user,
    jobs_for_user,
    uploads_for_job,
)
from generation.services import (
    ConcurrencyLimited,
    DailyLimitReached,
    IdempotencyKeyReused,
    ImageInput,
    JobSpec,
    JobValidationError,
    LimitsUnavailable,
    RateLimited,
    job_submit,
    upload_create,
)

# job_submit's error fields → the form field they are about (None: the whole form).
FORM_FIELDS = {
    "prompt": "prompt",
    "model": "model_tier",
    "model_tier": "model_tier",
    "aspectRatio": "aspect_ratio",
    "aspect_ratio": "aspect_ratio",
    "resolution": "resolution",
    "duration": "duration_seconds",
    "duration_seconds": "duration_seconds",
    "seeds": "seed",
    "imageUrls": "image",
    "imageKey": "image",
    "images": "image",
    "mode": "mode",
    "generate_audio": "generate_audio",
}
RAW_FIELDS = ("prompt", *PriceForm.base_fields, "seed")  # stored as the job's raw request
RECENT_JOBS = 6


def json_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like login_required, but a script gets a JSON 401 instead of a login page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"detail": _("Log in first.")}, status=401)
        return view(request, *args, **kwargs)

    return wrapped


def _duration_text(seconds: int) -> str:
    if seconds < 60:
        return _("about %(s)d s") % {"s": seconds}
    return _("about %(m)d min %(s)02d s") % {"m": seconds // 60, "s": seconds % 60}


def _queue_place(job: Job) -> QueuePlace:
    if job.state != Job.State.QUEUED:
        return QueuePlace(position=0, total=0)
    return job_queue_place(
        job=job,
        exact_max=settings.CODEFAST_QUEUE_EXACT_MAX,
        snapshot_seconds=settings.CODEFAST_QUEUE_SNAPSHOT_SECONDS,
    )


def job_status(job: Job, request: HttpRequest) -> dict[str, Any]:
    """What the job page shows live (also rendered into the page for its first paint)."""
    place = _queue_place(job)
    eta = job_eta_seconds(job=job)
    progress_by_state: dict[str, int] = {Job.State.QUEUED: 0, Job.State.SUCCEEDED: 100}
    progress = progress_by_state.get(job.state, job.progress)
    if job.state == Job.State.QUEUED:
        queue_text = _("Position %(position)d of %(total)d in the queue") % {
            "position": place.position,
            "total": place.total,
        }
    elif job.state == Job.State.RUNNING:
        queue_text = _("Rendering now")
    else:
        queue_text = ""
    return {
        "id": str(job.id),
        "state": job.state,
        "state_label": str(STATE_LABELS.get(job.state, job.state)),
        "terminal": job.is_terminal,
        "progress": progress,
        "eta_seconds": eta,
        "eta_text": _duration_text(eta) if not job.is_terminal else "",
        "queue_position": place.position,
        "total_in_queue": place.total,
        "queue_text": queue_text,
        "error": job.error_message if job.state in (Job.State.FAILED, Job.State.CANCELLED) else "",
        "video_url": job_video_url(job, request),
        "poster_url": job_poster_url(job, request),
        "download_name": f"veosaas-{job.id}.mp4",
    }


def _job_or_404(request: AuthenticatedHttpRequest, job_id: Any) -> Job:
    job = job_get(user=request.user, job_id=job_id)
    if job is None:
        raise Http404("no such job")
    return job


# ---------------------------------------------------------------------------------------------
# Home, new video, price
# ---------------------------------------------------------------------------------------------


@login_required
@require_GET
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The codefast panel's cards: credits available and held, daily limit and what is left of
    it today, total videos; and the latest jobs."""
    jobs = list(jobs_for_user(user=request.user)[:RECENT_JOBS])
    return render(
        request,
        "dashboard/home.html",
        {
            "balance": balance_get(user=request.user),
            "usage": daily_usage(user=request.user),
            "resets_at": daily_limit_resets_at(),
            "time_zone": settings.TIME_ZONE,
            "counts": job_counts(user=request.user),
            "jobs": _cards(jobs, request),
        },
    )


def _price_context(request: AuthenticatedHttpRequest, form: PriceForm) -> dict[str, Any]:
    if form.is_valid():
        data = form.cleaned_data
        check = job_price_check(
            mode=data["mode"],
            model_tier=data["model_tier"],
            resolution=data["resolution"],
            duration_seconds=data["duration_seconds"],
            aspect_ratio=data["aspect_ratio"],
            generate_audio=data["generate_audio"],
        )
    else:
        check = None
    available = balance_get(user=request.user).available
    return {
        "credits": check.credits if check else None,
        "available": available,
        "affordable": bool(check and check.credits is not None and check.credits <= available),
        "error": (check.message if check else _("Choose valid options.")) or "",
        "field": (check.field if check else "") or "",
    }


@json_login_required
@require_GET
@never_cache
def price(request: AuthenticatedHttpRequest) -> JsonResponse:
    """The price of a generation before submit: the same quote job_submit holds."""
    form = PriceForm(request.GET)
    status = 200 if form.is_valid() else 400
    return JsonResponse(_price_context(request, form), status=status)


def _submit(request: AuthenticatedHttpRequest, form: VideoForm) -> Job | None:
    """Store the images and submit; on a refusal, explain it on the form and return None."""
    data = form.cleaned_data
    key = f"dashboard:{data['form_token']}"
    # A repeat of a form already accepted needs no second copy of its images: job_submit
    # answers it with the first job (the images count in the request by digest).
    repeat = job_get_by_idempotency_key(user=request.user, key=key) is not None
    stored = []
    digests = []
    for name, upload in (("image", data.get("image")), ("last_image", data.get("last_image"))):
        if upload is None:
            continue
        digest = hashlib.sha256()
        for chunk in upload.chunks():
            digest.update(chunk)
        digests.append({"sha256": digest.hexdigest(), "bytes": upload.size})
        if repeat:
            continue
        try:
            stored.append(
                upload_create(
                    user=request.user,
                    source=upload.file,
                    file_name=upload.name or "",
                    max_bytes=settings.GENERATION_UPLOAD_MAX_BYTES,
                )
            )
        except images.ImageRejected as exc:
            form.add_error(name, _("This image cannot be used: %(reason)s") % {"reason": exc})
    if form.errors:
        return None
    raw = {name: data[name] for name in RAW_FIELDS} | {"images": digests}
    spec = JobSpec(
        facade=Job.Facade.DASHBOARD,
        prompt=data["prompt"],
        mode=data["mode"],
        model_tier=data["model_tier"],
        aspect_ratio=data["aspect_ratio"],
        resolution=data["resolution"],
        duration_seconds=data["duration_seconds"],
        generate_audio=data["generate_audio"],
        seed=data["seed"],
        images=tuple(ImageInput(upload_id=u.id) for u in stored),
        raw_request=raw,
        enforce_daily_limit=True,
    )
    try:
        return job_submit(user=request.user, spec=spec, idempotency_key=key).job
    except JobValidationError as exc:
        form.add_error(FORM_FIELDS.get(exc.field), exc.message)
    except InsufficientCredits as exc:
        form.add_error(
            None,
            _(
                "This video costs %(required)d credits but you have %(available)d "
                "available. Buy credits or choose a cheaper option."
            )
            % {"required": exc.required, "available": exc.available},
        )
    except DailyLimitReached as exc:
        form.add_error(
            None,
            _(
                "You have reached your daily limit of %(limit)d videos. It resets "
                "at midnight (%(zone)s)."
            )
            % {"limit": exc.limit, "zone": settings.TIME_ZONE},
        )
    except (RateLimited, LimitsUnavailable) as exc:  # (limits that cannot be checked: refused)
        form.add_error(
            None,
            _("Too many requests. Try again in %(seconds)d seconds.")
            % {"seconds": exc.retry_after},
        )
    except ConcurrencyLimited as exc:
        form.add_error(
            None,
            _("You already have %(limit)d videos queued or rendering. Wait for one to finish.")
            % {"limit": exc.limit},
        )
    except IdempotencyKeyReused:
        form.add_error(
            None,
            _("This form was already used for another video. Check the values and submit again."),
        )
        post_data = cast(QueryDict, form.data).copy()
        post_data["form_token"] = VideoForm().initial["form_token"]
        form.data = post_data
    return None


@login_required
@require_http_methods(["GET", "POST"])
def video_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = VideoForm(request.POST, request.FILES)
        if form.is_valid():
            job = _submit(request, form)
            if job is not None:
                return redirect("dashboard:job", job_id=job.id)
        status = 400
    else:
        form = VideoForm()
        status = 200
    price_form = PriceForm(
        request.POST
        if request.method == "POST"
        else {name: field.initial for name, field in PriceForm.base_fields.items()}
    )
    return render(
        request,
        "dashboard/new.html",
        {
            "form": form,
            "price": _price_context(request, price_form),
            "models": form.models,
            "usage": daily_usage(user=request.user),
        },
        status=status,
    )


# Jobs: detail, status and history.


@login_required
@require_GET
def job_detail(request: AuthenticatedHttpRequest, job_id: Any) -> HttpResponse:
    job = _job_or_404(request, job_id)
    return render(
        request,
        "dashboard/job.html",
        {
            "job": job,
            "mode_label": MODE_LABELS.get(job.mode, job.get_mode_display()),
            "status": job_status(job, request),
            "inputs": [upload_url(u, request) for u in uploads_for_job(job=job)],
            "transfers": transfers_for_job(job_id=job.id),
            "deliveries": callback_deliveries_for_job(job=job),
        },
    )


@json_login_required
@require_GET
@never_cache
def job_status_json(request: AuthenticatedHttpRequest, job_id: Any) -> JsonResponse:
    job = job_get(user=request.user, job_id=job_id)
    if job is None:
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return JsonResponse(job_status(job, request))


def _cards(jobs: list[Job], request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {
            "job": job,
            "state_label": STATE_LABELS.get(job.state, job.state),
            "poster_url": job_poster_url(job, request),
        }
        for job in jobs
    ]


@login_required
@require_GET
def history(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = HistoryFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    jobs = jobs_filtered_for_user(
        user=request.user,
        state=filters.get("state", ""),
        created_from=filters.get("created_from"),
        created_to=filters.get("created_to"),
    )
    page = Paginator(jobs, settings.DASHBOARD_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "dashboard/history.html",
        {
            "form": form,
            "page": page,
            "cards": _cards(list(page.object_list), request),
            "query": query.urlencode(),
        },
    )
