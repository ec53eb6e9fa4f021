"""Submitting a job: validate, price, hold credits, create the row, enqueue after commit.

Invariants (RELIABILITY.md J1): the job row and its credit hold are created in one
transaction and the run task is enqueued only after commit, with the job id only. A refusal
(generation/errors.py) writes nothing. An Idempotency-Key replays the first job of the same
request body and refuses a different body.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import replace
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiKey, User
from billing import services as billing
from billing.catalog import ASPECT_RATIOS, DEFAULT_ASPECT_RATIO, DURATIONS, RESOLUTIONS, TIERS
from billing.errors import ActiveJobsLimited, PriceNotFound
from generation.delivery import upload_id_from_url
from generation.errors import (
    ConcurrencyLimited,
    DailyLimitReached,
    IdempotencyKeyReused,
    JobValidationError,
    LimitsUnavailable,
    RateLimited,
)
from generation.models import Job, Upload
from generation.providers import provider_name_for
from generation.providers.catalog import (
    PERSON_GENERATION,
    CapabilityError,
    model_spec,
    spec_validate,
)
from generation.ratelimit import RateLimitUnavailable, generate_rate_limit, key_rate_limit
from generation.selectors import DailyUsage, daily_usage, daily_usage_forget
from generation.services.job_row import job_row_insert
from generation.services.keys import job_key_limits_check
from generation.services.specs import ImageInput, JobSpec, Submitted
from generation.services.transitions import job_run_enqueue
from generation.snapshots import job_snapshot_publish_new_on_commit
from outbound import netguard
from veosaas import logcontext, metrics

# "auto": the worker resolves it from the input image (or the source video) when it runs.
SUBMIT_ASPECT_RATIOS = ("auto", *ASPECT_RATIOS)
MAX_SEED = 2**32 - 1


def _fingerprint(spec: JobSpec) -> str:
    canonical = json.dumps(
        {"facade": spec.facade, "kind": spec.kind, "body": spec.raw_request},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _infer_mode(spec: JobSpec) -> str:
    if spec.mode:
        return spec.mode
    count = len(spec.images)
    return {0: Job.Mode.TEXT, 1: Job.Mode.IMAGE, 2: Job.Mode.FIRST_LAST}.get(
        count, Job.Mode.REFERENCE
    )


def _validate_url(field: str, url: str) -> None:
    try:
        netguard.validate_url(url)
        parsed = urlsplit(url)
        default_port = 443 if parsed.scheme == "https" else 80
        netguard.resolve_public(parsed.hostname or "", parsed.port or default_port)
    except netguard.BlockedDestination as exc:
        raise JobValidationError(field, f"is not an allowed URL ({exc.reason})") from exc
    except netguard.FetchError as exc:
        raise JobValidationError(field, f"cannot be resolved ({exc})") from exc


def job_validate(*, user: User, spec: JobSpec) -> str:
    """Check a spec before anything is held; returns the resolved mode.

    Raises JobValidationError naming the field. Resolves customer URLs now (and the worker
    checks them again before each request, since DNS answers change).
    """
    prompt = spec.prompt.strip() if isinstance(spec.prompt, str) else ""
    if not prompt:
        raise JobValidationError("prompt", "is required")
    if len(prompt) > settings.GENERATION_PROMPT_MAX_CHARS:
        raise JobValidationError(
            "prompt", f"must be at most {settings.GENERATION_PROMPT_MAX_CHARS} characters"
        )
    if spec.model_tier not in TIERS:
        raise JobValidationError("model", f"must be one of {', '.join(TIERS)}")
    if spec.aspect_ratio not in SUBMIT_ASPECT_RATIOS:
        raise JobValidationError("aspectRatio", "must be one of auto, 16:9, 9:16")
    if spec.resolution not in RESOLUTIONS:
        raise JobValidationError("resolution", f"must be one of {', '.join(RESOLUTIONS)}")
    if spec.duration_seconds not in DURATIONS and spec.mode != Job.Mode.UPSCALE:
        # Within the vocabulary, the provider's catalog below names what this model takes.
        raise JobValidationError(
            "duration_seconds", f"must be between {DURATIONS[0]} and {DURATIONS[-1]} seconds"
        )
    if spec.person_generation and spec.person_generation not in PERSON_GENERATION:
        raise JobValidationError(
            "person_generation", f"must be one of {', '.join(PERSON_GENERATION)}"
        )
    if spec.seed is not None and not 0 <= spec.seed <= MAX_SEED:
        raise JobValidationError("seeds", f"must be between 0 and {MAX_SEED}")
    mode = _infer_mode(spec)
    counts: dict[str, tuple[int, int]] = {
        Job.Mode.TEXT: (0, 0),
        Job.Mode.IMAGE: (1, 1),
        Job.Mode.FIRST_LAST: (2, 2),
        Job.Mode.REFERENCE: (1, 3),
        Job.Mode.EXTEND: (0, 0),
        Job.Mode.UPSCALE: (0, 0),
    }
    low, high = counts[mode]
    if not low <= len(spec.images) <= high:
        raise JobValidationError(
            "imageUrls", f"{mode} needs {low if low == high else f'{low} to {high}'} image(s)"
        )
    for index, image in enumerate(spec.images):
        # One ownership rule for an upload named by key and by its URL of ours: another
        # account's upload answers like an unknown one.
        upload_id = image.upload_id or upload_id_from_url(image.url)
        if upload_id is not None:
            if not Upload.objects.filter(pk=upload_id, user=user).exists():
                field = "imageKey" if image.upload_id is not None else f"imageUrls[{index}]"
                raise JobValidationError(field, "does not name an image you uploaded")
        else:
            _validate_url(f"imageUrls[{index}]", image.url)
    if spec.callback_url:
        _validate_url("callBackUrl", spec.callback_url)
    if spec.watermark and len(spec.watermark) > 200:
        raise JobValidationError("watermark", "must be at most 200 characters")
    if mode != Job.Mode.UPSCALE:
        # The catalog of the provider that will run the job (generation/providers/catalog.py).
        try:
            spec_validate(
                model_spec(
                    provider=provider_name_for(model_tier=spec.model_tier), tier=spec.model_tier
                ),
                mode=mode,
                resolution=spec.resolution,
                duration_seconds=spec.duration_seconds,
                aspect_ratio=(
                    spec.aspect_ratio if spec.aspect_ratio != "auto" else DEFAULT_ASPECT_RATIO
                ),
                image_count=len(spec.images),
                has_source_video=spec.parent_id is not None,
                generate_audio=spec.generate_audio,
                person_generation=spec.person_generation,
            )
        except CapabilityError as exc:
            raise JobValidationError(exc.field, exc.message) from exc
    return mode


def _replay(*, user: User, idempotency_key: str, fingerprint: str) -> Job | None:
    existing = Job.objects.filter(user=user, idempotency_key=idempotency_key).first()
    if existing is not None and existing.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request."
        )
    return existing


def _image_refs(images_in: tuple[ImageInput, ...]) -> list[dict[str, str]]:
    refs = []
    for image in images_in:
        upload_id = image.upload_id or upload_id_from_url(image.url)
        refs.append({"upload": str(upload_id)} if upload_id else {"url": image.url})
    return refs


def job_submit(
    *,
    user: User,
    spec: JobSpec,
    api_key: ApiKey | None = None,
    idempotency_key: str | None = None,
) -> Submitted:
    """Validate, price, hold credits and create the job; enqueue it after commit.

    Raises JobValidationError (KeyLimitRefused for what the API key may not ask for),
    RateLimited, LimitsUnavailable (limits cannot be checked: fail closed), ConcurrencyLimited
    (the account's or the key's), DailyLimitReached, IdempotencyKeyReused and billing's
    InsufficientCredits (KeyBudgetExceeded for the key's budget, taken atomically with the
    hold); nothing is written when any is raised. One transaction (one commit); the account
    row is locked by its last statement only, unless a key's own cap or the daily limit must
    be counted under that lock. With an
    idempotency key, a repeat of the same request returns the first job (`replayed=True`,
    no second hold).
    """
    fingerprint = _fingerprint(spec)
    if idempotency_key:
        existing = _replay(user=user, idempotency_key=idempotency_key, fingerprint=fingerprint)
        if existing is not None:
            return Submitted(job=existing, replayed=True)
    try:
        decision = generate_rate_limit(user_id=user.pk)
        if not decision.allowed:
            raise RateLimited(decision)
        if api_key is not None and api_key.rate_limit_per_minute:
            decision = key_rate_limit(api_key_id=api_key.pk, limit=api_key.rate_limit_per_minute)
            if not decision.allowed:
                raise RateLimited(decision, per_key=True)
    except RateLimitUnavailable as exc:
        raise LimitsUnavailable() from exc
    mode = job_validate(user=user, spec=spec)
    if api_key is not None:
        job_key_limits_check(
            api_key=api_key,
            model_tier=spec.model_tier,
            resolution=spec.resolution,
            duration_seconds=spec.duration_seconds,
        )
    operation = spec.kind
    try:
        quote = billing.price_quote(
            operation=operation,
            model_tier=spec.model_tier,
            resolution=spec.resolution,
            seconds=spec.duration_seconds,
            audio=spec.generate_audio,
        )
    except PriceNotFound as exc:
        raise JobValidationError("resolution", str(exc)) from exc
    # Upgrades run on the tier's provider when its catalog upscales (Omni), else on
    # GENERATION_UPSCALE_PROVIDER (Veo cannot raise the resolution of a video).
    provider = provider_name_for(model_tier=spec.model_tier)
    if (
        mode == Job.Mode.UPSCALE
        and not model_spec(provider=provider, tier=spec.model_tier).upscales_upstream
    ):
        provider = settings.GENERATION_UPSCALE_PROVIDER
    now = timezone.now()
    # The key's budget row for this period exists before the account row is locked.
    budget = billing.key_budget_open(api_key=api_key, now=now) if api_key is not None else None
    limit = settings.GENERATION_MAX_ACTIVE_JOBS
    for _ in range(3):
        try:
            job, usage = _job_create(
                user=user,
                spec=spec,
                api_key=api_key,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                mode=mode,
                credits=quote.credits,
                provider=provider,
                budget=budget,
                now=now,
            )
        except billing.JobHoldRefused:  # rolled back: read why (or retry: the account is new)
            refusal = billing.job_hold_refusal(
                user=user, amount=quote.credits, active_limit=limit, budget=budget
            )
            if isinstance(refusal, ActiveJobsLimited):
                raise ConcurrencyLimited(limit) from refusal
            if refusal is not None:
                raise refusal from None
            continue
        except _Replayed as replayed:
            return Submitted(job=replayed.job, replayed=True)
        except IntegrityError:
            # A concurrent request with the same idempotency key committed first.
            if idempotency_key:
                existing = _replay(
                    user=user, idempotency_key=idempotency_key, fingerprint=fingerprint
                )
                if existing is not None:
                    return Submitted(job=existing, replayed=True)
            raise
        return Submitted(job=job, replayed=False, daily_usage=usage)
    raise ConcurrencyLimited(limit)  # refused three times with nothing refusing afterwards


class _Replayed(Exception):  # control flow out of the transaction
    def __init__(self, job: Job) -> None:
        self.job = job


def _job_create(
    *,
    user: User,
    spec: JobSpec,
    api_key: ApiKey | None,
    idempotency_key: str | None,
    fingerprint: str,
    mode: str,
    credits: int,
    provider: str,
    budget: billing.KeyBudget | None,
    now: datetime,
) -> tuple[Job, DailyUsage | None]:
    """The job row and its hold in one transaction; the hold (the account row's lock) last.

    The account's concurrency cap is counted by the hold's own statement
    (billing.services.job_holds). Only the checks that must count rows under the account's
    lock (a key's own cap, the daily limit) lock it first. Raises JobHoldRefused (rolled back).
    Returns the job and, when the daily limit was checked, the day's usage with the job.
    """
    locked = bool(api_key is not None and api_key.max_concurrent_jobs) or spec.enforce_daily_limit
    usage = None
    with transaction.atomic():
        if locked:
            billing.account_lock(user=user)
            if idempotency_key:
                existing = _replay(
                    user=user, idempotency_key=idempotency_key, fingerprint=fingerprint
                )
                if existing is not None:
                    raise _Replayed(existing)
            if api_key is not None and api_key.max_concurrent_jobs:
                key_active = Job.objects.filter(
                    api_key=api_key, state__in=[Job.State.QUEUED, Job.State.RUNNING]
                ).count()
                if key_active >= api_key.max_concurrent_jobs:
                    raise ConcurrencyLimited(api_key.max_concurrent_jobs, per_key=True)
            if spec.enforce_daily_limit:
                usage = daily_usage(user=user)
                if usage.remaining <= 0:
                    raise DailyLimitReached(usage.limit)
                usage = replace(usage, used=usage.used + 1)
        job_id = uuid.uuid4()

        def hold(id_taken: bool = False) -> int | None:
            # A free operation (e.g. the 1080p upgrade at its default price) holds nothing.
            return billing.job_hold(
                user=user,
                amount=credits,
                job_id=job_id,
                active_limit=settings.GENERATION_MAX_ACTIVE_JOBS,
                budget=budget,
                id_taken=id_taken,
            )

        # The hold last, its id taken from the sequence by the row's INSERT; first when the account
        # is locked already or there is no sequence (SQLite: the write lock is held from BEGIN).
        taken = None if locked or credits <= 0 else billing.transfer_id_next()
        held = hold() if taken is None else taken
        job = Job(
            id=job_id,
            user=user,
            api_key=api_key,
            facade=spec.facade,
            kind=spec.kind,
            parent_id=spec.parent_id,
            remixed_from_id=spec.remixed_from_id,
            result_index=spec.result_index,
            prompt=spec.prompt.strip(),
            negative_prompt=spec.negative_prompt,
            mode=mode,
            model_tier=spec.model_tier,
            aspect_ratio=spec.aspect_ratio,
            resolution=spec.resolution,
            duration_seconds=spec.duration_seconds,
            generate_audio=spec.generate_audio,
            person_generation=spec.person_generation,
            seed=spec.seed if spec.seed is not None else secrets.randbelow(90000) + 10000,
            watermark=spec.watermark,
            image_refs=_image_refs(spec.images),
            callback_url=spec.callback_url,
            raw_request=spec.raw_request,
            idempotency_key=idempotency_key or None,
            request_fingerprint=fingerprint,
            request_id=logcontext.get("request_id"),
            provider=provider,
            credits_quoted=credits,
            hold_transfer_id=held,
            enqueued_at=now,
            created_at=now,
        )
        job_row_insert(job)  # Job.objects.create's INSERT, planned once (services/job_row.py)
        # Published before the enqueue: the worker's first change comes after.
        job_snapshot_publish_new_on_commit(job)
        daily_usage_forget(user_id=user.pk)
        logcontext.bind(job_id=job.id)
        labels = {"facade": job.facade, "provider": provider, "model": job.model_tier}
        metrics.count_on_commit(lambda: metrics.jobs_submitted.labels(**labels).inc())
        job_run_enqueue(job_id=job.id)
        if taken is not None:  # last: the account row stays locked from here to the commit
            job.hold_transfer_id = hold(id_taken=True)
    return job, usage
