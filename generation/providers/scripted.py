"""A test provider whose outcome is scripted by settings. For tests and rehearsals only.

GENERATION_TEST_OUTCOME: "succeed" (renders with the local provider), "fail" (ProviderFailed),
"block" (ContentBlocked), "transient" (ProviderTransientError every time).
GENERATION_TEST_DELAY_SECONDS: sleep this long first, reporting progress (a "slow" job).
"""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings

from generation.providers.base import (
    ContentBlocked,
    Outcome,
    ProgressFn,
    ProviderFailed,
    ProviderTransientError,
    RenderRequest,
    VideoProvider,
)
from generation.providers.local import LocalProvider


class ScriptedProvider(VideoProvider):
    name = "scripted"
    in_process = True

    def submit(self, request: RenderRequest, *, workdir: Path, progress: ProgressFn) -> Outcome:
        delay = settings.GENERATION_TEST_DELAY_SECONDS
        steps = max(1, int(delay * 10))
        for step in range(steps if delay else 0):
            time.sleep(delay / steps)
            progress(0.5 * (step + 1) / steps)
        outcome = settings.GENERATION_TEST_OUTCOME
        if outcome == "fail":
            raise ProviderFailed("Scripted failure: the generation failed.")
        if outcome == "block":
            raise ContentBlocked(
                "Your prompt was flagged by Website as violating content policies.",
                details={"reasons": "scripted policy block"},
            )
        if outcome == "transient":
            raise ProviderTransientError("Scripted upstream outage.", retry_after_seconds=1)
        return LocalProvider().submit(
            request, workdir=workdir, progress=lambda f: progress(0.5 + f / 2)
        )
