"""The provider interface: frozen dataclasses in and out; no vendor object crosses it.

A provider turns a `RenderRequest` into an MP4 file in a work directory. Fast local providers
finish inside `submit` and return `Completed`. Remote providers return `Pending` with an
operation name; the pipeline then calls `poll` from scheduled tasks (no worker slot waits),
until it returns `Completed` or raises.

Errors a provider may raise:
- `ContentBlocked`: the request or result was refused by a safety filter (not retried,
  no fallback provider, credits released).
- `ProviderTransientError`: upstream busy / 429 / 5xx / network; the pipeline retries with
  backoff.
- `ProviderFailed`: anything permanent (bad request upstream, generation failed, deadline).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar


@dataclass(frozen=True)
class InputImage:
    """A validated input image (JPEG, PNG or WebP), kept as its original bytes."""

    data: bytes
    mime_type: str
    width: int
    height: int


@dataclass(frozen=True)
class RenderRequest:
    job_id: str
    prompt: str
    # "text" | "image" (first frame) | "first_last" | "reference" | "extend" | "upscale"
    mode: str
    model_tier: str  # "quality" | "fast" | "lite"
    aspect_ratio: str  # "16:9" | "9:16", already resolved (never "auto")
    resolution: str  # "720p" | "1080p" | "4k"
    duration_seconds: int
    seed: int
    images: tuple[InputImage, ...] = ()
    negative_prompt: str = ""
    watermark: str = ""
    person_generation: str = ""
    generate_audio: bool = True
    # extend / upscale: a local copy of the source MP4, and the provider's handle on it if any.
    source_video_path: str | None = None
    source_video_uri: str | None = None


@dataclass(frozen=True)
class Completed:
    video_path: Path  # an MP4 (H.264 + AAC) inside the work directory
    width: int
    height: int
    duration_seconds: float
    poster_path: Path | None = None  # JPEG; the pipeline makes one when None
    # The provider's own reference to the output (for a later extend); never shown to users.
    provider_video_uri: str = ""
    details: dict[str, str] = field(default_factory=dict)
    # Providers that bill delivered seconds (Omni): what upstream billed. The job then captures
    # that share of its hold (rounded up to whole seconds) and releases the rest.
    billed_seconds: float | None = None
    # The upstream model that made it ("" for our own renderers): prices its upstream cost.
    upstream_model: str = ""


@dataclass(frozen=True)
class Pending:
    operation: str
    poll_after_seconds: float = 10.0


Outcome = Completed | Pending
ProgressFn = Callable[[float], None]  # fraction done, 0.0 to 1.0


class RenderCancelled(Exception):
    """Raised by the pipeline's progress callback once the job is no longer running (it was
    cancelled, or ended otherwise): an in-process renderer stops at its next frame batch.
    Not a `ProviderError`, so no provider catches it; work files are left to the pipeline."""


class ProviderError(Exception):
    code = "provider_error"

    def __init__(self, message: str, *, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ContentBlocked(ProviderError):
    code = "content_blocked"


class ProviderTransientError(ProviderError):
    code = "provider_unavailable"

    def __init__(
        self,
        message: str,
        *,
        retry_after_seconds: float | None = None,
        details: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after_seconds = retry_after_seconds


class ProviderFailed(ProviderError):
    code = "generation_failed"


class VideoProvider(ABC):
    name: ClassVar[str]
    # Renders inside the worker, billing nothing upstream: a cancel settles at once and the
    # render stops at its next progress report (the local renderer and the test provider).
    in_process: ClassVar[bool] = False

    @abstractmethod
    def submit(self, request: RenderRequest, *, workdir: Path, progress: ProgressFn) -> Outcome:
        """Start (and for local providers, finish) one render.

        Must be safe to call again for the same job after a crash: a redelivered task calls it
        anew; remote providers may start a second upstream operation, which is acceptable.
        """

    def poll(self, operation: str, request: RenderRequest, *, workdir: Path) -> Outcome:
        """Check a pending operation; download the result into `workdir` when it is done."""
        raise NotImplementedError(f"{self.name} does not run long operations")

    def cancel(self, operation: str) -> bool:
        """Ask upstream to stop an operation. True once upstream confirms it is cancelled (it
        will not bill it); False when it cannot (no cancel endpoint, or already finished)."""
        return False
