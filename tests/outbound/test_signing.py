"""Signing (outbound/signing.py), checked with the standardwebhooks library and an HMAC
recomputed here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks

from outbound.signing import kie_signature, sign_standard_webhook, signed_webhook_headers


def test_standard_webhook_signature_verifies_with_the_library() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body = '{"type":"usage_alert.fired","data":{"value":40}}'
    now = int(time.time())
    headers = sign_standard_webhook(secret, "msg_abc", now, body)
    assert headers["webhook-id"] == "msg_abc" and headers["webhook-timestamp"] == str(now)
    assert standardwebhooks.Webhook(secret).verify(body, headers) == json.loads(body)
    assert headers == sign_standard_webhook(secret, "msg_abc", now, body.encode())
    expected = standardwebhooks.Webhook(secret).sign(
        "msg_abc", datetime.fromtimestamp(now, tz=UTC), body
    )
    assert headers["webhook-signature"] == expected
    tampered = {
        **headers,
        "webhook-signature": sign_standard_webhook(secret, "msg_abc", now, body + " ")[
            "webhook-signature"
        ],
    }
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body, tampered)


def test_kie_signature_is_base64_hmac_of_id_dot_timestamp() -> None:
    secret = "whsec_c2VjcmV0"
    digest = hmac.new(secret.encode(), b"veo_task_1.1700000000", hashlib.sha256).digest()
    assert kie_signature(secret, "veo_task_1", 1700000000) == base64.b64encode(digest).decode()
    assert kie_signature(secret, "veo_task_1", "1700000000") == kie_signature(
        secret, "veo_task_1", datetime.fromtimestamp(1700000000, tz=UTC)
    )
    both = signed_webhook_headers(secret, "msg_1", "veo_task_1", 1700000000, "{}")
    assert both["X-Webhook-Signature"] == base64.b64encode(digest).decode()
    assert both["X-Webhook-Timestamp"] == both["webhook-timestamp"] == "1700000000"
