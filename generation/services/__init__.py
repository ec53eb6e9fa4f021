"""Write paths of generation, one module per sub-domain.

- submit.py: validate, price, hold and create a job (J1); idempotency-key replay;
- uploads.py: store customer images;
- pipeline.py: run a job through its provider, handle outcomes, fallback, upstream polling;
- recovery.py: the reaper (J3);
- upgrades.py: 1080p / 4K upgrades and extensions;
- transitions.py: the only writer of `Job.state` (guarded updates that settle the hold,
  publish the status snapshot and enqueue what follows).

The names below are the package's public interface; import them from `generation.services`.
"""

from __future__ import annotations

from generation.errors import (
    CODE_CONTENT,
    CODE_GENERATION_FAILED,
    CODE_INTERNAL,
    MSG_IMAGE_FETCH,
    MSG_INTERNAL,
    ConcurrencyLimited,
    DailyLimitReached,
    IdempotencyKeyReused,
    InputImageError,
    JobValidationError,
    LimitsUnavailable,
    RateLimited,
    SubmitRefused,
    UpgradeRefused,
)
from generation.services.cancel import CancelOutcome, job_cancel
from generation.services.keys import (
    api_key_issue,
    api_key_settings_update,
    api_key_settings_validate,
    job_key_limits_check,
    key_model_choices,
    key_models_as_ids,
    key_models_validate,
)
from generation.services.pipeline import _progress_reporter, job_poll, job_run, jobs_poll_due
from generation.services.recovery import ReapReport, jobs_reap
from generation.services.submit import (
    MAX_SEED,
    ImageInput,
    JobSpec,
    Submitted,
    job_submit,
    job_validate,
)
from generation.services.transitions import job_fail, job_succeed
from generation.services.upgrades import (
    RECORD_RETENTION,
    FullVideoUnavailable,
    UpgradeResult,
    extend_full_video,
    extend_segments,
    extend_submit,
    media_full_video_name,
    upgrade_1080p_prepare,
    upgrade_await,
    upgrade_live_get,
    upgrade_request,
    upgrade_was_prepared,
)
from generation.services.uploads import upload_create, upload_discard

__all__ = [
    "CODE_CONTENT",
    "CODE_GENERATION_FAILED",
    "CODE_INTERNAL",
    "MAX_SEED",
    "MSG_IMAGE_FETCH",
    "MSG_INTERNAL",
    "RECORD_RETENTION",
    "CancelOutcome",
    "ConcurrencyLimited",
    "DailyLimitReached",
    "FullVideoUnavailable",
    "IdempotencyKeyReused",
    "ImageInput",
    "InputImageError",
    "JobSpec",
    "JobValidationError",
    "LimitsUnavailable",
    "RateLimited",
    "ReapReport",
    "SubmitRefused",
    "Submitted",
    "UpgradeRefused",
    "UpgradeResult",
    "_progress_reporter",
    "api_key_issue",
    "api_key_settings_update",
    "api_key_settings_validate",
    "extend_full_video",
    "extend_segments",
    "extend_submit",
    "job_cancel",
    "job_fail",
    "job_key_limits_check",
    "job_poll",
    "job_run",
    "job_submit",
    "job_succeed",
    "job_validate",
    "jobs_poll_due",
    "jobs_reap",
    "key_model_choices",
    "key_models_as_ids",
    "key_models_validate",
    "media_full_video_name",
    "upgrade_1080p_prepare",
    "upgrade_await",
    "upgrade_live_get",
    "upgrade_request",
    "upgrade_was_prepared",
    "upload_create",
    "upload_discard",
]
