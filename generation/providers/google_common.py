"""What the Google gateways share: error translation, retry hints, probing the MP4 they fetch.

No SDK import here (each Google surface has its one gateway module that imports
`google.genai`: `vertex.py`, `omni.py`); the gateways pass the SDK's error class in.

Error mapping (all SDK and transport errors become our `ProviderError`s):
- HTTP 408, 429, 5xx, connection errors and timeouts -> `ProviderTransientError`
  (`retry_after_seconds` from `Retry-After` or Google's `RetryInfo.retryDelay`);
- other HTTP 4xx -> `ProviderFailed` naming Google's message (404 also sets
  `details["not_found"]`, which the reconciliation after the deadline treats as final);
- an answer that is not JSON -> `ProviderTransientError` (a garbled body from an intermediary
  is momentary; the pipeline's bounded retries cap it);
- JSON of the wrong shape -> `ProviderFailed`: a contract change no retry fixes.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from generation import media
from generation.providers.base import ProviderFailed, ProviderTransientError

T = TypeVar("T")

# google-genai 3.x sends through `httpx2` (a fork of httpx under its own namespace) when it is
# installed, else httpx: catch the transport errors of both.
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError,)
with contextlib.suppress(ImportError):
    import httpx2

    _TRANSPORT_ERRORS = (httpx.TransportError, httpx2.TransportError)

# HTTP statuses worth retrying (the same set the SDK's own retry helper uses).
TRANSIENT_HTTP_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# google.rpc.Code values worth retrying, by number and by name.
TRANSIENT_RPC_CODES = frozenset({4, 8, 13, 14})
TRANSIENT_RPC_STATUSES = frozenset(
    {"DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL", "UNAVAILABLE"}
)
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def call(surface: str, what: str, fn: Callable[[], T], api_error: type[Exception]) -> T:
    """Run one SDK call and translate whatever it raises into our provider errors."""
    try:
        return fn()
    except api_error as exc:
        raise api_error_translate(surface, what, exc) from exc
    except _TRANSPORT_ERRORS as exc:
        raise ProviderTransientError(
            f"{surface} {what}: network error ({type(exc).__name__}: {exc})"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ProviderTransientError(f"{surface} {what}: the answer is not JSON ({exc})") from exc
    except pydantic.ValidationError as exc:
        raise ProviderFailed(f"{surface} {what}: unexpected answer shape ({exc})") from exc
    except ValueError as exc:
        # The SDK's client-side guards (fields the surface does not take).
        raise ProviderFailed(f"{surface} {what}: {exc}") from exc


def api_error_translate(
    surface: str, what: str, exc: Any
) -> ProviderTransientError | ProviderFailed:
    # google.genai.errors.APIError has code/status/details; the Interactions client's errors
    # (google.genai._interactions.APIStatusError) have status_code/body.
    code = int(getattr(exc, "code", 0) or getattr(exc, "status_code", 0) or 0)
    body = _error_body(exc)
    # The Interactions API's envelope carries a string `code` (its status name) and no status.
    named = body.get("code") if isinstance(body.get("code"), str) else ""
    status = getattr(exc, "status", "") or str(body.get("status") or named or "")
    message = str(body.get("message") or "") or getattr(exc, "message", "") or str(exc)
    text = f"{surface} {what} answered HTTP {code} {status}: {message}".replace(" :", ":")
    details = {"http_status": str(code), "upstream_status": str(status)}
    if code in TRANSIENT_HTTP_STATUSES:
        return ProviderTransientError(
            text, retry_after_seconds=retry_after_seconds(exc), details=details
        )
    if code == 404:
        details["not_found"] = "true"
    return ProviderFailed(text, details=details)


def retry_after_seconds(exc: Any) -> float | None:
    """`Retry-After` (seconds or HTTP date), else google.rpc.RetryInfo's `retryDelay` ("30s")."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    header = headers.get("retry-after") if headers is not None else None
    if header:
        header = str(header).strip()
        if header.isascii() and header.isdigit() and len(header) <= 18:
            return float(header)
        with contextlib.suppress(TypeError, ValueError):
            when = email.utils.parsedate_to_datetime(header)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    error = _error_body(exc)
    for item in error.get("details", []):
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            match = _DURATION_RE.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _error_body(exc: Any) -> dict[str, Any]:
    """Google's `{"error": {...}}` envelope of an SDK error, unwrapped ({} if none)."""
    for name in ("details", "body"):
        value = getattr(exc, name, None)
        if isinstance(value, dict):
            error = value.get("error", value)
            return error if isinstance(error, dict) else {}
    return {}


def rpc_error_is_transient(code: Any, status: str) -> bool:
    return (
        code in TRANSIENT_RPC_CODES
        or code in TRANSIENT_HTTP_STATUSES
        or (status in TRANSIENT_RPC_STATUSES)
    )


def write_atomically(destination: Path, data: bytes) -> None:
    partial = destination.with_name(destination.name + ".part")
    try:
        partial.write_bytes(data)
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)


def probe(path: Path, surface: str) -> tuple[int, int, float]:
    """Width, height and duration (seconds) of the MP4 a Google surface returned."""
    try:
        return media.video_probe(path)
    except ValueError as exc:
        raise ProviderFailed(f"the video {surface} returned {exc}") from exc


def http_read(url: str, *, headers: dict[str, str], timeout_seconds: float, what: str) -> bytes:
    """GET `url` (following redirects) and return the body; Google's error classes mapped."""
    try:
        response = httpx.get(url, headers=headers, timeout=timeout_seconds, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise ProviderTransientError(f"{what}: {type(exc).__name__}: {exc}") from exc
    if response.status_code in TRANSIENT_HTTP_STATUSES:
        raise ProviderTransientError(f"{what} answered HTTP {response.status_code}")
    if response.status_code != 200:
        raise ProviderFailed(f"{what} answered HTTP {response.status_code}")
    return response.content


def gcs_read(uri: str, *, base_url: str, headers: dict[str, str], timeout_seconds: float) -> bytes:
    """The bytes of `gs://bucket/object` (Cloud Storage JSON API, `alt=media`)."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    if not uri.startswith("gs://") or not bucket or not name:
        raise ProviderFailed(f"malformed Cloud Storage URI: {uri!r}")
    url = (
        f"{base_url.rstrip('/')}/storage/v1/b/{quote(bucket, safe='')}/o/"
        f"{quote(name, safe='')}?alt=media"
    )
    return http_read(
        url, headers=headers, timeout_seconds=timeout_seconds, what=f"Cloud Storage read of {uri}"
    )
