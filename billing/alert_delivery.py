"""The texts of usage-alert notifications (the email's subject and body).

Alerts are sent by `outbound` (one Delivery per channel per firing: email, and a signed
webhook to the account callback URL); this module only renders what they say.
"""

from __future__ import annotations

from typing import Any

from accounts.models import User
from billing.models import UsageAlert
from veosaas.http import public_base_url

METRIC_TEXT = {
    UsageAlert.Metric.AVAILABLE_BELOW: "available credits below {threshold}",
    UsageAlert.Metric.USED_TODAY_ABOVE: "credits used today above {threshold}",
    UsageAlert.Metric.KEY_BUDGET_USED_ABOVE: "API key {key} used above {threshold} % of its budget",
}


def _what(data: dict[str, Any]) -> str:
    key = data.get("api_key_name") or f"#{data.get('api_key_id')}"
    return METRIC_TEXT[data["metric"]].format(threshold=data["threshold"], key=key)


def _base_url() -> str:
    return public_base_url()


def alert_email_subject(payload: dict[str, Any]) -> str:
    data = payload["data"]
    return "veosaas usage alert: " + _what(data)


def alert_email_text(*, user: User, payload: dict[str, Any]) -> str:
    data = payload["data"]
    what = _what(data)
    unit = "%" if data["metric"] == UsageAlert.Metric.KEY_BUDGET_USED_ABOVE else "credits"
    return (
        f"Your veosaas account {user.email} crossed a usage alert.\n\n"
        f"Alert: {what}\n"
        f"Value now: {data['value']} {unit}\n"
        f"Available credits: {data['available']}\n"
        f"Time: {payload['created_at']} (days count in {data['time_zone']})\n\n"
        f"You are notified once per crossing. Manage alerts: {_base_url()}/dashboard/alerts/\n"
    )
