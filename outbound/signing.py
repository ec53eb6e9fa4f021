"""Signatures of outgoing webhooks (job callbacks and account events): small pure functions.

Two schemes, both keyed by the account's secret (`User.webhook_secret`, "whsec_" + base64,
see `outbound.services.webhook_secret_get_or_create`), sent together on every attempt:

- kie (https://docs.kie.ai/common-api/webhook-verification): `X-Webhook-Timestamp` (unix
  seconds) and `X-Webhook-Signature` = base64(HMAC-SHA256(key = the whole secret string as
  UTF-8, message = f"{subject_id}.{timestamp}")). The subject is the job's taskId for job
  callbacks, the event id (the `webhook-id`) for account events.
- Standard Webhooks (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/
  standard-webhooks.md): `webhook-id`, `webhook-timestamp` and `webhook-signature` =
  "v1,<base64(HMAC-SHA256(key = base64-decoded secret without "whsec_",
  message = f"{msg_id}.{timestamp}.{body}"))>", verifiable with
  `standardwebhooks.Webhook(secret).verify(body, headers)`.

No I/O, no clock: the caller passes the timestamp, so a retry signs afresh with its own time
while the `webhook-id` stays the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from functools import lru_cache

STANDARD_WEBHOOKS_PREFIX = "whsec_"


def _unix(timestamp: int | str | datetime) -> str:
    if isinstance(timestamp, datetime):
        return str(int(timestamp.timestamp()))
    return str(int(timestamp))


def _body_text(body: str | bytes) -> str:
    return body.decode() if isinstance(body, bytes) else body


@lru_cache(maxsize=512)
def _keyed(key: bytes) -> hmac.HMAC:
    """An HMAC-SHA256 with `key` already absorbed, never updated itself: each signature works
    on a copy (a callbacks worker signs for the same few accounts over and over)."""
    return hmac.new(key, digestmod=hashlib.sha256)


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    mac = _keyed(key).copy()
    mac.update(message)
    return mac.digest()


def kie_signature(secret: str, subject_id: str, timestamp: int | str | datetime) -> str:
    """base64(HMAC-SHA256(secret as UTF-8, f"{subject_id}.{timestamp}")), kie's scheme."""
    message = f"{subject_id}.{_unix(timestamp)}".encode()
    return base64.b64encode(_hmac_sha256(secret.encode(), message)).decode()


@lru_cache(maxsize=512)
def standard_webhook_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64-decoded, without the whsec_ prefix."""
    return base64.b64decode(secret.removeprefix(STANDARD_WEBHOOKS_PREFIX))


def sign_standard_webhook(
    secret: str, msg_id: str, timestamp: int | str | datetime, body: str | bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt of message `msg_id`."""
    unix = _unix(timestamp)
    signed = f"{msg_id}.{unix}.{_body_text(body)}".encode()
    digest = _hmac_sha256(standard_webhook_key(secret), signed)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": unix,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def signed_webhook_headers(
    secret: str,
    msg_id: str,
    subject_id: str,
    timestamp: int | str | datetime,
    body: str | bytes,
) -> dict[str, str]:
    """Both schemes' headers for one attempt (kie's and Standard Webhooks'), same timestamp."""
    unix = _unix(timestamp)
    return {
        "X-Webhook-Timestamp": unix,
        "X-Webhook-Signature": kie_signature(secret, subject_id, unix),
        **sign_standard_webhook(secret, msg_id, unix, body),
    }
