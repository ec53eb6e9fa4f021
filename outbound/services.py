"""Write paths of outbound: webhook signing secrets, the account callback URL, creating and
re-sending deliveries. Sending itself is `outbound.engine`.
"""

from __future__ import annotations

import base64
import secrets
import threading
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from outbound import netguard
from outbound.errors import CallbackUrlInvalid
from outbound.models import Delivery
from veosaas import logcontext

# Standard Webhooks secrets: "whsec_" + base64 of random bytes (the spec asks for 24-64).
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
WEBHOOK_SECRET_BYTES = 32


# ---------------------------------------------------------------------------------------------
# Signing secrets
# ---------------------------------------------------------------------------------------------


def _webhook_secret_new() -> str:
    return (
        WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(WEBHOOK_SECRET_BYTES)).decode()
    )


def webhook_secret_get_or_create(*, user: User) -> str:
    """The account's callback signing secret, created on first use.

    Idempotent and race-free: the secret is written with a conditional UPDATE (only while the
    field is empty), so concurrent first uses agree on one secret. `user.webhook_secret` is
    refreshed. The same secret keys the Standard Webhooks signature (base64-decoded, as the
    spec says) and kie's `X-Webhook-Signature` HMAC (the whole `whsec_…` string as UTF-8).
    """
    # Read from the database, not from `user`: request.user may be a cached snapshot.
    User.objects.filter(pk=user.pk, webhook_secret="").update(
        webhook_secret=_webhook_secret_new(), webhook_secret_rotated_at=timezone.now()
    )
    user.refresh_from_db(fields=["webhook_secret", "webhook_secret_rotated_at"])
    return user.webhook_secret


def webhook_secret_rotate(*, user: User) -> str:
    """Replace the account's callback signing secret with a new random one and return it.

    Takes effect for every attempt sent from now on, retries of older callbacks included
    (they are signed at send time). Not idempotent: each call makes a new secret.
    """
    secret = _webhook_secret_new()
    User.objects.filter(pk=user.pk).update(
        webhook_secret=secret, webhook_secret_rotated_at=timezone.now()
    )
    user.refresh_from_db(fields=["webhook_secret", "webhook_secret_rotated_at"])
    return secret


# ---------------------------------------------------------------------------------------------
# The account callback URL
# ---------------------------------------------------------------------------------------------


def account_callback_url_set(*, user: User, url: str) -> str:
    """Set (or clear, with "") where account events such as usage alerts are POSTed.

    The URL must pass the SSRF guard's rules (`netguard.validate_url`) and its host must
    resolve to allowed addresses now (`netguard.resolve_public`; every delivery checks again).
    Raises CallbackUrlInvalid otherwise, leaving the old URL. Returns the stored URL.
    """
    url = url.strip()
    if url:
        try:
            netguard.validate_url(url)
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
            netguard.resolve_public(parts.hostname or "", port)
        except netguard.BlockedDestination as exc:
            raise CallbackUrlInvalid(exc.reason) from exc
        except netguard.FetchError as exc:
            raise CallbackUrlInvalid(str(exc)) from exc
    fresh = User.objects.get(pk=user.pk)
    fresh.account_callback_url = url
    fresh.save(update_fields=["account_callback_url"])  # the signal drops cached auth copies
    return url


# ---------------------------------------------------------------------------------------------
# Deliveries
# ---------------------------------------------------------------------------------------------


# Deliveries due at once that one transaction enqueues share their messages, SEND_GROUP per
# message (outbound/batch.py claims a message's deliveries together).
SEND_GROUP = 32
_group = threading.local()


def delivery_send_on_commit(
    delivery_id: int, *, countdown: float | None = None, manual: bool = False
) -> None:
    """Enqueue one attempt after commit. `robust`: a broker error is logged, the other
    on-commit callbacks still run, and the sweeper re-enqueues the delivery later.

    Automatic attempts due now that one transaction enqueues are grouped: the first of their
    on-commit callbacks to run sends them all, SEND_GROUP deliveries per message (an id whose
    row a rolled-back savepoint removed only costs its message a read)."""
    from outbound.tasks import delivery_send_task  # outbound.tasks imports the engine

    if manual or countdown is not None:
        kwargs = {"manual": True} if manual else {}

        def enqueue() -> None:
            delivery_send_task.apply_async(args=[delivery_id], kwargs=kwargs, countdown=countdown)

        transaction.on_commit(enqueue, robust=True)
        return
    # A group lives as long as the transaction's list of on-commit callbacks (Django replaces
    # that list on commit and on any rollback).
    hooks = transaction.get_connection().run_on_commit
    group: list[int] | None = getattr(_group, "ids", None)
    if group is None or getattr(_group, "hooks", None) is not hooks:
        group = _group.ids = []
        _group.hooks = hooks
    group.append(delivery_id)

    def enqueue_group(ids: list[int] = group) -> None:
        if getattr(_group, "ids", None) is ids:
            _group.ids = _group.hooks = None  # later deliveries start a new group
        sending, ids[:] = ids[:], []
        for first in range(0, len(sending), SEND_GROUP):
            head, *others = sending[first : first + SEND_GROUP]
            delivery_send_task.apply_async(args=[head], kwargs={"others": others} if others else {})

    transaction.on_commit(enqueue_group, robust=True)


def delivery_create(
    *,
    topic: str,
    user_id: int,
    destination: str,
    webhook_id: str,
    signing_id: str,
    payload: dict[str, Any],
    body: str,
    reference: str = "",
    channel: str = Delivery.Channel.WEBHOOK,
    email_subject: str = "",
    now: datetime | None = None,
    request_id: str = "",
) -> tuple[Delivery, bool]:
    """Store one message for one destination and enqueue its first attempt after commit.

    Idempotent: a job callback is created once per (reference, destination) and any message
    once per (webhook_id, channel); a repeated call returns the existing row and enqueues
    nothing. `body` is sent byte for byte on every attempt. Returns (delivery, created).
    """
    lookup: dict[str, Any]
    if topic == Delivery.Topic.JOB_CALLBACK:
        lookup = {"topic": topic, "reference": reference, "destination": destination}
    else:
        lookup = {"webhook_id": webhook_id, "channel": channel}
    with transaction.atomic():
        delivery, created = Delivery.objects.get_or_create(
            **lookup,
            defaults={
                "topic": topic,
                "channel": channel,
                "user_id": user_id,
                "reference": reference,
                "destination": destination,
                "webhook_id": webhook_id,
                "signing_id": signing_id,
                "email_subject": email_subject,
                "request_id": request_id or logcontext.get("request_id"),
                "payload": payload,
                "body": body,
                "next_attempt_at": now or timezone.now(),
            },
        )
        if created:
            delivery_send_on_commit(delivery.pk)
    return delivery, created


def delivery_resend(*, delivery_id: int) -> None:
    """Queue one more attempt of a delivery, by staff (same webhook-id, fresh signature)."""
    delivery_send_on_commit(delivery_id, manual=True)
