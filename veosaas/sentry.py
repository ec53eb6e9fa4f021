"""Optional error reporting to Sentry (SENTRY_DSN), from the web and the Celery workers.

Before an event leaves, every field named in SENTRY_SCRUB_FIELDS (prompts, keys, secrets,
callback URLs; matched case-insensitively, at any depth: request bodies, headers, extra data,
local variables of stack frames) is replaced, and no personal data is sent by default.
https://docs.sentry.io/platforms/python/data-management/sensitive-data/
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

from veosaas import logcontext

SCRUBBED = "[scrubbed]"


def _scrub(value: Any, denylist: set[str]) -> Any:
    """Replace the values of denylisted keys at any depth (Sentry's scrubber stops at known
    places; bodies of JSON APIs nest the prompt under `data`, `input`, ...)."""
    if isinstance(value, dict):
        return {
            key: SCRUBBED
            if isinstance(key, str) and key.lower() in denylist
            else _scrub(item, denylist)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item, denylist) for item in value]
    return value


def before_send_factory(fields: list[str]) -> Any:
    denylist = {field.lower() for field in fields}

    def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
        scrubbed: dict[str, Any] = _scrub(event, denylist)
        # One id from a support ticket finds the Sentry event too.
        request_id = logcontext.get("request_id")
        if request_id:
            scrubbed.setdefault("tags", {})["request_id"] = request_id
        return scrubbed

    return before_send


def sentry_init(
    *, dsn: str, environment: str, traces_sample_rate: float, scrub_fields: list[str]
) -> None:
    denylist = sorted({*DEFAULT_DENYLIST, *(field.lower() for field in scrub_fields)})
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        event_scrubber=EventScrubber(denylist=denylist, recursive=True),
        before_send=before_send_factory(scrub_fields),
    )
