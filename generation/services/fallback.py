"""The fallback chain: a job that failed upstream moves to the next provider that takes it.

GENERATION_FALLBACK_PROVIDERS (or the single GENERATION_FALLBACK_PROVIDER) lists providers in
order; never used after a safety block or a cancel (the callers decide that).
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from billing.catalog import DEFAULT_ASPECT_RATIO
from generation.models import Job
from generation.providers.base import ProviderError
from generation.providers.catalog import CapabilityError, model_spec, spec_validate
from generation.services.transitions import job_provider_switch


def _fallback_chain(tier: str) -> list[str]:
    chain = list(settings.GENERATION_FALLBACK_PROVIDERS_BY_TIER.get(tier) or [])
    chain = chain or list(settings.GENERATION_FALLBACK_PROVIDERS)
    if not chain and settings.GENERATION_FALLBACK_PROVIDER:
        chain = [settings.GENERATION_FALLBACK_PROVIDER]
    return chain


def _accepts(provider: str, job: Job) -> bool:
    """Whether `provider`'s catalog takes this job as it was submitted."""
    try:
        spec_validate(
            model_spec(provider=provider, tier=job.model_tier),
            mode=job.mode,
            resolution=job.resolution,
            duration_seconds=job.duration_seconds,
            aspect_ratio=job.resolved_aspect_ratio or DEFAULT_ASPECT_RATIO,
            image_count=len(job.image_refs),
            has_source_video=job.parent_id is not None,
            generate_audio=job.generate_audio,
            person_generation=job.person_generation,
        )
    except (CapabilityError, LookupError):
        return False
    return True


def job_fall_back(*, job: Job, exc: ProviderError) -> bool:
    """Move a job that failed upstream to the next provider of the fallback chain.

    Not for content blocks (another provider would be asked to make what was refused). The
    job keeps its hold; `error_details["attempts"]` lists each provider that ran it and why it
    moved on. Providers already tried, or whose catalog refuses the job, are skipped. Returns
    True if moved.
    """
    if job.cancel_requested_at is not None:  # the customer asked to stop: no other provider
        return False
    attempts = list(job.error_details.get("attempts") or [])
    tried = {item.get("provider") for item in attempts} | {job.provider}
    following = [p for p in _fallback_chain(job.model_tier) if p not in tried and _accepts(p, job)]
    if not following:
        return False
    attempts.append(
        {"provider": job.provider, "error": exc.message[:500], "at": timezone.now().isoformat()}
    )
    details = {
        "fallback_from": job.provider,
        "fallback_reason": exc.message[:500],
        "attempts": attempts,
    }
    return job_provider_switch(job=job, provider=following[0], details=details, reason=exc.message)
