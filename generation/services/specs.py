"""What a submit asks for (`JobSpec`) and what it answers (`Submitted`); see submit.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from billing.catalog import DEFAULT_ASPECT_RATIO, DEFAULT_DURATION, DEFAULT_RESOLUTION, DEFAULT_TIER
from generation.models import Job
from generation.selectors.usage import DailyUsage


@dataclass(frozen=True)
class ImageInput:
    """One input image: an upload of ours (by id) or a customer URL fetched by the worker."""

    upload_id: uuid.UUID | None = None
    url: str = ""


@dataclass(frozen=True)
class JobSpec:
    facade: str
    prompt: str
    kind: str = Job.Kind.GENERATE
    mode: str | None = None  # None: inferred from the number of images
    model_tier: str = DEFAULT_TIER
    aspect_ratio: str = DEFAULT_ASPECT_RATIO
    resolution: str = DEFAULT_RESOLUTION
    duration_seconds: int = DEFAULT_DURATION
    seed: int | None = None
    images: tuple[ImageInput, ...] = ()
    negative_prompt: str = ""
    watermark: str = ""
    generate_audio: bool = True
    # Veo's personGeneration: "" (the model's default) or one of catalog.PERSON_GENERATION.
    person_generation: str = ""
    callback_url: str = ""
    raw_request: dict[str, Any] = field(default_factory=dict)
    parent_id: uuid.UUID | None = None
    result_index: int = 0
    # The job this one remixes (same inputs, a new prompt; /v1/videos/{id}/remix).
    remixed_from_id: uuid.UUID | None = None
    # Enforce the account's jobs-per-day limit (codefast); checked under the account lock.
    enforce_daily_limit: bool = False


@dataclass(frozen=True)
class Submitted:
    job: Job
    replayed: bool
    # The day's usage with this job, when the submit checked the daily limit (else None).
    daily_usage: DailyUsage | None = None
