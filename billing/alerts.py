"""Usage alerts: thresholds on an account's credits, notified by email and signed webhook.

Metrics (`UsageAlert.Metric`):
- `available_below`: available credits (posted - captured - open holds) < threshold;
- `used_today_above`: credits captured since local midnight in
  TIME_ZONE > threshold;
- `key_budget_used_above` (with `api_key`): percent of the key's budget counted this period
  (held + captured, billing.models.budgets) > threshold ("key X used 80 % of its budget").

Flow:
1. The CRUD services keep `LedgerAccount.alerts_enabled` equal to "has an active alert",
   under the account's row lock (so concurrent edits cannot leave a stale flag).
2. Every ledger write reads the flag back from the row it updates (billing.services) and, only
   when it is set, enqueues `alerts_evaluate_task(user_id)` after commit. Accounts without
   alerts pay no extra query on the hot path.
3. `alerts_evaluate` recomputes the metrics and, per alert, fires it with a guarded UPDATE
   (armed → fired; of any number of concurrent evaluations exactly one changes the row) or
   re-arms it with the opposite guarded UPDATE once the value is back over the threshold. A
   firing writes one outbound `Delivery` per channel (email; webhook when the account has an
   `account_callback_url`), with the event id as `webhook-id`, sent after commit.
4. Sending, retries and the sweeper are `outbound.engine`'s (BILLING_ALERT_RETRY_SCHEDULE,
   BILLING_ALERT_WEBHOOK_TIMEOUT_SECONDS). Deliveries never touch the ledger: a failed one
   changes no credits.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import ApiKey, User
from billing.alert_delivery import alert_email_subject, alert_email_text
from billing.errors import BillingError
from billing.models import LedgerAccount, Transfer, UsageAlert
from billing.selectors import key_budgets_used
from billing.services import account_lock, alerts_evaluate_on_commit
from billing.usage import local_day_start, local_today
from outbound.models import Delivery
from outbound.services import delivery_create

MAX_ALERTS_PER_ACCOUNT = 20
THRESHOLD_MAX = 10**15
EVENT_TYPE = "usage_alert.fired"


class AlertInvalid(BillingError):
    """An alert request cannot be applied; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class AlertNotFound(BillingError):
    """No alert with this id in the account (another account's alert included)."""


# ---------------------------------------------------------------------------------------------
# Managing alerts
# ---------------------------------------------------------------------------------------------


def _check_threshold(threshold: int) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise AlertInvalid("threshold", "must be an integer")
    if not 0 <= threshold <= THRESHOLD_MAX:
        raise AlertInvalid("threshold", f"must be between 0 and {THRESHOLD_MAX}")


def _flag_refresh(*, account: LedgerAccount, user: User) -> None:
    """alerts_enabled := the account has an active alert. Caller holds the account row lock."""
    enabled = UsageAlert.objects.filter(user_id=user.pk, active=True).exists()
    if enabled != account.alerts_enabled:
        LedgerAccount.objects.filter(pk=account.pk).update(alerts_enabled=enabled)


def _duplicate(
    *,
    user: User,
    metric: str,
    threshold: int,
    exclude: int | None = None,
    api_key_id: int | None = None,
) -> bool:
    qs = UsageAlert.objects.filter(
        user_id=user.pk, metric=metric, threshold=threshold, api_key_id=api_key_id
    )
    return qs.exclude(pk=exclude).exists() if exclude is not None else qs.exists()


def _check_key(*, user: User, metric: str, threshold: int, api_key_id: int | None) -> None:
    if metric != UsageAlert.Metric.KEY_BUDGET_USED_ABOVE:
        if api_key_id is not None:
            raise AlertInvalid("key", "only a key_budget_used_above alert watches a key")
        return
    if api_key_id is None:
        raise AlertInvalid("key", "is required for key_budget_used_above")
    if not ApiKey.objects.filter(pk=api_key_id, user_id=user.pk).exists():
        raise AlertInvalid("key", "no API key with this id")
    if threshold > 100:
        raise AlertInvalid("threshold", "is a percentage of the key's budget: 0 to 100")


def alert_create(
    *,
    user: User,
    metric: str,
    threshold: int,
    email: bool = True,
    webhook: bool = True,
    api_key_id: int | None = None,
) -> UsageAlert:
    """Create an armed, active alert and switch the account's alert flag on.

    Raises AlertInvalid (field named) for an unknown metric, a threshold outside
    0..THRESHOLD_MAX, no channel, a duplicate (same metric and threshold) or more than
    MAX_ALERTS_PER_ACCOUNT alerts; nothing is written then. An evaluation is enqueued after
    commit, so an account already past the threshold is notified once. Not idempotent.
    """
    if metric not in UsageAlert.Metric.values:
        raise AlertInvalid("metric", f"must be one of {', '.join(UsageAlert.Metric.values)}")
    _check_threshold(threshold)
    _check_key(user=user, metric=metric, threshold=threshold, api_key_id=api_key_id)
    if not (email or webhook):
        raise AlertInvalid("email", "enable at least one channel (email or webhook)")
    with transaction.atomic():
        account = account_lock(user=user)  # serialises this account's alert changes
        if UsageAlert.objects.filter(user_id=user.pk).count() >= MAX_ALERTS_PER_ACCOUNT:
            raise AlertInvalid("metric", f"at most {MAX_ALERTS_PER_ACCOUNT} alerts per account")
        if _duplicate(user=user, metric=metric, threshold=threshold, api_key_id=api_key_id):
            raise AlertInvalid("threshold", "an alert with this metric and threshold exists")
        alert = UsageAlert.objects.create(
            user_id=user.pk,
            metric=metric,
            threshold=threshold,
            email=email,
            webhook=webhook,
            api_key_id=api_key_id,
        )
        _flag_refresh(account=account, user=user)
        alerts_evaluate_on_commit(user_id=user.pk)
    return alert


def alert_update(
    *,
    user: User,
    alert_id: int,
    threshold: int | None = None,
    active: bool | None = None,
    email: bool | None = None,
    webhook: bool | None = None,
) -> UsageAlert:
    """Change an alert's threshold, active flag or channels (None = unchanged).

    A new threshold or a reactivation re-arms the alert and enqueues an evaluation after
    commit. Raises AlertNotFound (also for another account's alert) and AlertInvalid like
    `alert_create`; nothing is written then.
    """
    if threshold is not None:
        _check_threshold(threshold)
    with transaction.atomic():
        account = account_lock(user=user)
        alert = UsageAlert.objects.select_for_update().filter(user_id=user.pk, pk=alert_id).first()
        if alert is None:
            raise AlertNotFound(alert_id)
        rearm = False
        if threshold is not None and threshold != alert.threshold:
            _check_key(
                user=user, metric=alert.metric, threshold=threshold, api_key_id=alert.api_key_id
            )
            if _duplicate(
                user=user,
                metric=alert.metric,
                threshold=threshold,
                exclude=alert.pk,
                api_key_id=alert.api_key_id,
            ):
                raise AlertInvalid("threshold", "an alert with this metric and threshold exists")
            alert.threshold = threshold
            rearm = True
        if active is not None and active != alert.active:
            alert.active = active
            rearm = rearm or active
        alert.email = alert.email if email is None else email
        alert.webhook = alert.webhook if webhook is None else webhook
        if not (alert.email or alert.webhook):
            raise AlertInvalid("email", "enable at least one channel (email or webhook)")
        if rearm:
            alert.state = UsageAlert.State.ARMED
            alert.fired_day = None
        alert.updated_at = timezone.now()
        alert.save()
        _flag_refresh(account=account, user=user)
        if rearm and alert.active:
            alerts_evaluate_on_commit(user_id=user.pk)
    return alert


def alert_delete(*, user: User, alert_id: int) -> None:
    """Delete one of the account's alerts (its past deliveries stay, without the alert).

    Raises AlertNotFound (also for another account's alert). Switches the account's alert flag
    off with the last active alert.
    """
    with transaction.atomic():
        account = account_lock(user=user)
        deleted, _ = UsageAlert.objects.filter(user_id=user.pk, pk=alert_id).delete()
        if not deleted:
            raise AlertNotFound(alert_id)
        _flag_refresh(account=account, user=user)


# ---------------------------------------------------------------------------------------------
# Evaluating
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation changed: alert ids fired and re-armed, deliveries created."""

    fired: list[int] = field(default_factory=list)
    rearmed: list[int] = field(default_factory=list)
    deliveries: list[int] = field(default_factory=list)


def _metrics(*, user_id: int, metrics: set[str], now: datetime) -> dict[str, int]:
    row = (
        LedgerAccount.objects.filter(user_id=user_id)
        .values_list("pk", "credits_posted", "debits_posted", "debits_pending")
        .first()
    )
    if row is None:
        return {UsageAlert.Metric.AVAILABLE_BELOW: 0, UsageAlert.Metric.USED_TODAY_ABOVE: 0}
    account_id, credits_posted, debits_posted, debits_pending = row
    values: dict[str, int] = {
        UsageAlert.Metric.AVAILABLE_BELOW: credits_posted - debits_posted - debits_pending
    }
    if UsageAlert.Metric.USED_TODAY_ABOVE in metrics:
        captured = Transfer.objects.filter(
            debit_account_id=account_id,
            kind=Transfer.Kind.CAPTURE,
            created_at__gte=local_day_start(local_today(now=now)),
        ).aggregate(total=Sum("amount"))["total"]
        values[UsageAlert.Metric.USED_TODAY_ABOVE] = int(captured or 0)
    return values


def _key_budget_percents(*, alerts: list[UsageAlert], now: datetime) -> dict[int, int]:
    """Percent of each watched key's budget counted this period (key id → %, 0 without a
    budget)."""
    keys = list(ApiKey.objects.filter(pk__in={a.api_key_id for a in alerts if a.api_key_id}))
    used = key_budgets_used(api_keys=keys, now=now)
    return {k.pk: (used[k.pk] * 100 // k.budget_credits) if k.budget_credits else 0 for k in keys}


def _value(alert: UsageAlert, values: dict[str, int], percents: dict[int, int]) -> int:
    if alert.metric == UsageAlert.Metric.KEY_BUDGET_USED_ABOVE:
        return percents.get(alert.api_key_id or 0, 0)
    return values[alert.metric]


def _crossed(alert: UsageAlert, value: int) -> bool:
    if alert.metric == UsageAlert.Metric.AVAILABLE_BELOW:
        return value < alert.threshold
    return value > alert.threshold


def alerts_evaluate(*, user_id: int, now: datetime | None = None) -> Evaluation:
    """Fire the account's armed alerts whose metric has crossed; re-arm fired ones whose metric
    is back over the threshold.

    Firing is one guarded UPDATE (armed → fired; for daily alerts also "fired on an earlier
    day"), so however many evaluations run at once, one crossing fires once. The account's
    active alerts are row-locked for the evaluation, so evaluations of one account run one
    after the other and each reads metrics at least as new as the previous one's (a stale
    evaluation cannot fire or re-arm after a newer one). Idempotent: a second run without a
    ledger change changes nothing. Deliveries are sent by tasks enqueued after commit.
    """
    now = now or timezone.now()
    today = local_today(now=now)
    result = Evaluation()
    with transaction.atomic():
        alerts = list(
            UsageAlert.objects.select_for_update()
            .filter(user_id=user_id, active=True)
            .order_by("pk")
        )
        if not alerts:
            return result
        values = _metrics(user_id=user_id, metrics={a.metric for a in alerts}, now=now)
        percents = _key_budget_percents(alerts=alerts, now=now)
        for alert in alerts:
            value = _value(alert, values, percents)
            if not _crossed(alert, value):
                rearmed = UsageAlert.objects.filter(
                    pk=alert.pk,
                    state=UsageAlert.State.FIRED,
                ).update(state=UsageAlert.State.ARMED, updated_at=now)
                if rearmed:
                    result.rearmed.append(alert.pk)
                continue
            armed = Q(state=UsageAlert.State.ARMED)
            if alert.metric == UsageAlert.Metric.USED_TODAY_ABOVE:
                armed |= ~Q(fired_day=today)  # a new day starts from zero: re-armed
            fired = UsageAlert.objects.filter(armed, pk=alert.pk, active=True).update(
                state=UsageAlert.State.FIRED,
                fired_at=now,
                fired_value=value,
                fired_day=today,
                updated_at=now,
            )
            if fired:
                result.fired.append(alert.pk)
                result.deliveries.extend(
                    _deliveries_create(alert=alert, value=value, values=values, now=now)
                )
    return result


def _event_payload(
    *, event_id: str, alert: UsageAlert, value: int, values: dict[str, int], now: datetime
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": EVENT_TYPE,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "data": {
            "alert_id": alert.pk,
            "metric": alert.metric,
            "threshold": alert.threshold,
            "value": value,
            "available": values[UsageAlert.Metric.AVAILABLE_BELOW],
            "api_key_id": alert.api_key_id,
            "api_key_name": alert.api_key.name if alert.api_key is not None else None,
            "day": local_today(now=now).isoformat(),
            "time_zone": settings.TIME_ZONE,
        },
    }


def _deliveries_create(
    *, alert: UsageAlert, value: int, values: dict[str, int], now: datetime
) -> list[int]:
    """The deliveries of one firing (inside the evaluation's transaction), sent after commit."""
    user = User.objects.only("email", "account_callback_url").get(pk=alert.user_id)
    event_id = f"msg_{uuid.uuid4().hex}"
    payload = _event_payload(event_id=event_id, alert=alert, value=value, values=values, now=now)
    planned: list[tuple[str, str, str, str]] = []
    if alert.email and user.email:
        text = alert_email_text(user=user, payload=payload)
        subject = alert_email_subject(payload)
        planned.append((Delivery.Channel.EMAIL, user.email, text, subject))
    if alert.webhook and user.account_callback_url:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        planned.append((Delivery.Channel.WEBHOOK, user.account_callback_url, body, ""))
    ids = []
    for channel, destination, body, subject in planned:
        # The event id is both the Standard Webhooks message id and the kie HMAC's subject.
        delivery, _ = delivery_create(
            topic=Delivery.Topic.USAGE_ALERT,
            channel=channel,
            user_id=alert.user_id,
            reference=str(alert.pk),
            destination=destination,
            webhook_id=event_id,
            signing_id=event_id,
            email_subject=subject,
            payload=payload,
            body=body,
            now=now,
        )
        ids.append(delivery.pk)
    return ids
