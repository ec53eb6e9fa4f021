"""What differs between topics: retry schedule, timeout, Retry-After, logging limits.

Each topic keeps the settings it has always had, so operators tune job callbacks and usage
alerts separately; the engine reads them at send time (tests and deployments may change them).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from outbound.models import Delivery


@dataclass(frozen=True)
class TopicPolicy:
    # Settings names: seconds before each retry (1 attempt + one retry per entry), and the
    # per-attempt limit of a whole POST.
    retry_schedule_setting: str
    timeout_setting: str
    # Wait at least as long as the receiver's Retry-After asks (capped by the engine).
    honour_retry_after: bool
    # How much of a response body is read and logged.
    excerpt_bytes: int
    # Name the refused redirect target in the error (job callbacks always have).
    redirect_target_in_error: bool

    def retry_schedule(self) -> tuple[int, ...]:
        return tuple(int(s) for s in getattr(settings, self.retry_schedule_setting))

    def timeout(self) -> float:
        return float(getattr(settings, self.timeout_setting))


POLICIES: dict[str, TopicPolicy] = {
    # kie: receivers must answer within 15 s; README A11 retries.
    Delivery.Topic.JOB_CALLBACK: TopicPolicy(
        retry_schedule_setting="GENERATION_CALLBACK_RETRY_SCHEDULE",
        timeout_setting="GENERATION_CALLBACK_TIMEOUT_SECONDS",
        honour_retry_after=True,
        excerpt_bytes=2048,
        redirect_target_in_error=True,
    ),
    Delivery.Topic.USAGE_ALERT: TopicPolicy(
        retry_schedule_setting="BILLING_ALERT_RETRY_SCHEDULE",
        timeout_setting="BILLING_ALERT_WEBHOOK_TIMEOUT_SECONDS",
        honour_retry_after=False,
        excerpt_bytes=1024,
        redirect_target_in_error=False,
    ),
}


def policy_for(topic: str) -> TopicPolicy:
    return POLICIES[topic]
