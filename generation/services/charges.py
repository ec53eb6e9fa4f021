"""What a finished job is charged and what upstream billed for it (pure; transitions.py
writes both in the same transaction as the success)."""

from __future__ import annotations

import math
from typing import Any

from generation.models import Job
from generation.providers.base import Completed
from generation.upstream_cost import upstream_cost


def charge_for(*, job: Job, result: Completed) -> int:
    """The credits to capture: the quote, or for a provider billing delivered seconds (Omni)
    the quote's share for the whole seconds delivered (never more than was held)."""
    if result.billed_seconds is None or job.duration_seconds <= 0:
        return job.credits_quoted
    seconds = min(job.duration_seconds, max(1, math.ceil(result.billed_seconds - 0.05)))
    return min(job.credits_quoted, math.ceil(job.credits_quoted * seconds / job.duration_seconds))


def upstream_usage(*, job: Job, result: Completed) -> dict[str, Any]:
    """The job's upstream fields: model, seconds upstream bills (requested unless the provider
    reports delivered seconds) and the estimated cost (UPSTREAM_COST_PER_SECOND_USD)."""
    if not result.upstream_model:
        return {"upstream_model": "", "upstream_seconds": None, "upstream_cost_usd": None}
    seconds = float(
        result.billed_seconds if result.billed_seconds is not None else job.duration_seconds
    )
    return {
        "upstream_model": result.upstream_model,
        "upstream_seconds": seconds,
        "upstream_cost_usd": upstream_cost(
            model=result.upstream_model,
            resolution=job.resolution,
            seconds=seconds,
            audio=job.generate_audio,
        ),
    }
