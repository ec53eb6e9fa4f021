"""Optional Sentry: with SENTRY_DSN set, an unhandled error in a request reaches the DSN's
server (a local receiver here) through the real SDK, tagged with the request id, with the
prompt, the API key and other secrets scrubbed from the body, headers and stack frames."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import zlib
from pathlib import Path

from tests.generation.veo3api_helpers import receiver_running

ROOT = Path(__file__).resolve().parent.parent.parent
PROMPT = "a very private prompt about project nightingale"
KEY = "sk-live-SUPERSECRETKEY123"

SCRIPT = f"""
import django, sentry_sdk
from django.conf import settings
django.setup()
settings.ROOT_URLCONF = "tests.ops.sentry_urls"
from django.test import Client
client = Client(raise_request_exception=False)
answer = client.post(
    "/crash",
    data={{"prompt": {PROMPT!r}, "input": {{"prompt": {PROMPT!r}}}, "callBackUrl": "https://x.example/cb"}},
    content_type="application/json",
    HTTP_AUTHORIZATION="Bearer {KEY}",
    HTTP_X_REQUEST_ID="sentry-ticket-000042",
)
assert answer.status_code == 500, answer.status_code
sentry_sdk.flush(timeout=10)
"""


def decode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli  # type: ignore[import-not-found]

        return bytes(brotli.decompress(body))
    return body


def test_errors_reach_sentry_scrubbed_and_tagged_with_the_request_id(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with receiver_running() as receiver:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "veosaas.settings",
            "VAR_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "SENTRY_DSN": f"http://publickey@127.0.0.1:{receiver.port}/42",
            "ALLOWED_HOSTS": "testserver",
            "PYTHONPATH": str(ROOT),
        }
        env.pop("CELERY_BROKER_URL", None)
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        (sent,) = receiver.wait_for(1, timeout=20)
    envelope = decode(sent.body, sent.headers.get("Content-Encoding", "")).decode()
    assert "/api/42/envelope/" in sent.path
    assert "RenderCrashed" in envelope
    assert "sentry-ticket-000042" in envelope
    assert "nightingale" not in envelope
    assert "SUPERSECRETKEY" not in envelope
    assert "x.example/cb" not in envelope
