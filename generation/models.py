"""Jobs, uploads and rate-limit state.

One `Job` model serves every facade: a facade renders the same row in its own shape and id
format (veo3o1 `uuid` and codefast `job_id` are `Job.id`; veo3api `taskId` is
`veo_task_<Job.id.hex>`). State changes only through `generation.services`, as conditional
UPDATEs guarded on the current state, so a redelivered task never applies one twice.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Job(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Kind(models.TextChoices):
        GENERATE = "generate", "Generate"
        EXTEND = "extend", "Extend"
        UPGRADE_1080P = "upgrade_1080p", "1080p upgrade"
        UPGRADE_4K = "upgrade_4k", "4K upgrade"

    class Facade(models.TextChoices):
        VEO3O1 = "veo3o1", "veo3o1"
        VEO3API = "veo3api", "veo3api / kie"
        CODEFAST = "codefast", "codefast"
        OPENAI = "openai", "OpenAI-style /v1/videos"
        DASHBOARD = "dashboard", "Dashboard"

    class Mode(models.TextChoices):
        TEXT = "text", "Text to video"
        IMAGE = "image", "Image to video"
        FIRST_LAST = "first_last", "First and last frame"
        REFERENCE = "reference", "Reference images"
        EXTEND = "extend", "Extend"
        UPSCALE = "upscale", "Upscale"

    class FailureStage(models.TextChoices):
        PRE_START = "pre_start", "Before generation started"
        GENERATION = "generation", "During generation"

    class MediaDeleted(models.TextChoices):
        EXPIRED = "expired", "Retention period passed"
        DELETED = "deleted", "Deleted by staff"

    TERMINAL_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jobs"
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    facade = models.CharField(max_length=16, choices=Facade.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.GENERATE)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    result_index = models.PositiveSmallIntegerField(default=0)
    # The job this one remixes (`POST /v1/videos/{id}/remix`): same inputs, a new prompt.
    remixed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="remixes"
    )

    # What was asked for.
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.TEXT)
    model_tier = models.CharField(max_length=16, default="fast")
    aspect_ratio = models.CharField(
        max_length=8, default="16:9", help_text="As requested: auto, 16:9 or 9:16."
    )
    resolution = models.CharField(max_length=8, default="720p")
    duration_seconds = models.PositiveSmallIntegerField(default=8)
    # Audio on (default) or off; only models whose catalog entry has `audio_optional` take off.
    generate_audio = models.BooleanField(default=True)
    # Veo's personGeneration ("" = the model's default); only models whose catalog lists values.
    person_generation = models.CharField(max_length=20, blank=True, default="")
    seed = models.PositiveIntegerField(default=0)
    watermark = models.CharField(max_length=200, blank=True)
    image_refs = models.JSONField(
        default=list, blank=True, help_text='Ordered inputs: {"upload": id} or {"url": url}.'
    )
    callback_url = models.URLField(max_length=2048, blank=True)
    raw_request = models.JSONField(default=dict, blank=True)
    # NULL (not "") when absent, so the per-user unique constraint ignores keyless jobs.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="X-Request-Id of the submit: finds its log lines, tasks and callbacks.",
    )

    # Lifecycle.
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    failure_stage = models.CharField(max_length=16, choices=FailureStage.choices, blank=True)
    error_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    error_details = models.JSONField(default=dict, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    eta_seconds = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    requeues = models.PositiveSmallIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_count = models.PositiveIntegerField(default=0)
    deadline_at = models.DateTimeField(null=True, blank=True)
    # Set once when a cancel is asked for a running job (generation/services/cancel.py): the
    # local renderer stops at its next frame batch; an upstream job is settled by what its
    # provider finally reports (charged only if it completed, as upstream billed it).
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    # Provider and result.
    provider = models.CharField(max_length=32, blank=True)
    provider_operation = models.CharField(max_length=300, blank=True)
    provider_video_uri = models.CharField(max_length=1000, blank=True)
    resolved_aspect_ratio = models.CharField(max_length=8, blank=True)
    video_file = models.CharField(max_length=300, blank=True)
    poster_file = models.CharField(max_length=300, blank=True)
    output_width = models.PositiveIntegerField(null=True, blank=True)
    output_height = models.PositiveIntegerField(null=True, blank=True)
    output_duration = models.FloatField(null=True, blank=True)
    render_seconds = models.FloatField(null=True, blank=True)
    # What upstream billed for the result (finance's margin): its model, the seconds it bills
    # (requested for Veo, delivered for Omni) and the estimate from UPSTREAM_COST_PER_SECOND_USD.
    upstream_model = models.CharField(max_length=64, blank=True)
    upstream_seconds = models.FloatField(null=True, blank=True)
    upstream_cost_usd = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    # Storage lifecycle (generation/services/storage.py): when the files were removed and why.
    # The names stay, so the row still says what existed; media URLs answer 410 from then on.
    media_bytes = models.PositiveBigIntegerField(
        default=0, help_text="Bytes stored for the result (video and poster)."
    )
    video_deleted_at = models.DateTimeField(null=True, blank=True)
    poster_deleted_at = models.DateTimeField(null=True, blank=True)
    media_deleted_reason = models.CharField(max_length=16, choices=MediaDeleted.choices, blank=True)

    # Money (the ledger is the record; these mirror it for display).
    credits_quoted = models.PositiveIntegerField(default=0)
    credits_charged = models.PositiveIntegerField(default=0)
    hold_transfer_id = models.BigIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="job_idempotency_key_per_user",
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="job_progress_le_100"),
            models.CheckConstraint(
                condition=Q(state__in=["queued", "running", "succeeded", "failed", "cancelled"]),
                name="job_state_valid",
            ),
            models.CheckConstraint(
                condition=~Q(state="succeeded") | ~Q(video_file=""),
                name="job_succeeded_has_video",
            ),
            # One live 1080p / 4K upgrade per source video (kie's get-1080p-video and
            # get-4k-video create it on the first call); a failed one may be asked for again.
            models.UniqueConstraint(
                fields=["parent", "kind", "result_index"],
                condition=Q(kind__in=["upgrade_1080p", "upgrade_4k"])
                & Q(state__in=["queued", "running", "succeeded"]),
                name="job_one_live_upgrade_per_source",
            ),
        ]
        indexes = [
            # Queue position (FIFO among queued jobs) and per-user listings.
            models.Index(fields=["state", "created_at"], name="job_state_created_idx"),
            models.Index(fields=["user", "-created_at"], name="job_user_created_idx"),
            models.Index(fields=["user", "state"], name="job_user_state_idx"),
            models.Index(fields=["state", "lease_expires_at"], name="job_state_lease_idx"),
            models.Index(fields=["state", "next_poll_at"], name="job_state_poll_idx"),
            # The retention sweep walks ended jobs by completion time.
            models.Index(fields=["state", "completed_at"], name="job_state_completed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.kind} {self.state}"

    @property
    def task_id(self) -> str:
        """The veo3api / kie id of this job."""
        prefix = "veo_extend_task_" if self.kind == self.Kind.EXTEND else "veo_task_"
        return f"{prefix}{self.id.hex}"

    @property
    def is_terminal(self) -> bool:
        return self.state in self.TERMINAL_STATES


class Upload(models.Model):
    """An image stored for image-to-video: uploaded, or fetched from a customer URL."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Uploaded"
        URL = "url", "Fetched from a URL"
        BASE64 = "base64", "Base64 body"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads"
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.UPLOAD)
    source_url = models.URLField(max_length=2048, blank=True)
    file = models.CharField(max_length=300)
    file_name = models.CharField(max_length=255, blank=True)
    mime_type = models.CharField(max_length=32)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Removed after this unless a job uses it."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"], name="upload_expires_idx")]

    def __str__(self) -> str:
        return f"{self.id} ({self.mime_type}, {self.width}x{self.height})"

    @property
    def extension(self) -> str:
        return {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}.get(
            self.mime_type, "bin"
        )

    @property
    def key(self) -> str:
        """The public storage key (veo3o1 `imageKey`)."""
        return f"img_{self.id.hex}"


class RateLimitBucket(models.Model):
    """Sliding-window rate-limit state for the database backend (no Redis configured)."""

    key = models.CharField(max_length=200, primary_key=True)
    hits = models.JSONField(default=dict, help_text="Second (unix time) to hits in it.")

    def __str__(self) -> str:
        return self.key
