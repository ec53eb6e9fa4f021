"""The status reads of every facade, without DRF: key check and job snapshot in one cache trip.

Status polling is most of the API's traffic. DRF's request handling (request wrapping, content
negotiation, authenticator and permission objects, exception handling) costs more than the
status itself, so the facades' status views answer GET and HEAD through `status_read` and a
plain `HttpResponse` whose bytes are those of DRF's JSONRenderer, and leave every other method
to DRF. `status_read` does what `BearerApiKeyAuthentication` / `HeaderApiKeyAuthentication` and
`KeyScopePermission` do (a usable key, its address list, the `read` scope, the touch), with
the key's cache entries and the job's status snapshot (generation.snapshots) fetched in one
`cache.get_many` (one MGET on Redis). On a snapshot hit it runs no SQL.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from accounts.authentication import scope_denied_message
from accounts.models import ApiKey, Scope
from accounts.selectors import (
    ApiKeyInvalid,
    api_key_address_allowed,
    api_key_authenticate,
    api_key_cache_keys,
)
from accounts.services import api_key_touch
from generation.models import Job
from generation.snapshots import job_snapshot_get, snapshot_id, snapshot_key
from veosaas import logcontext
from veosaas.http import client_ip

FAST_METHODS = ("GET", "HEAD")
# The owner of each key this process has authenticated (by its cache key, not the token), so
# that entries of the account (codefast's daily usage) join the first cache read.
_owners: dict[str, int] = {}
_OWNERS_MAX = 10_000
# What DRF's APIView answers in `Allow` for a view with only `get`.
ALLOW_GET = "GET, HEAD, OPTIONS"


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    """`data` as DRF's JSONRenderer writes it (compact, UTF-8, U+2028 and U+2029 escaped)."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    body = body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return HttpResponse(body, content_type="application/json", status=status, headers=headers)


def accepts_json(request: HttpRequest) -> bool:
    """Whether DRF's default content negotiation would pick JSON (else it answers 406, and
    the view leaves the request to DRF so that answer stays the same)."""
    accept = request.META.get("HTTP_ACCEPT", "")
    return not accept or "json" in accept or "*/*" in accept or "application/*" in accept


@dataclass(frozen=True)
class StatusRead:
    """`refusal`: "" when the key may read, "auth" (missing, unknown, revoked, expired key or
    an address it may not be used from) or "scope" (it lacks `read`; `message` says so).
    `job` is the key owner's job (STATUS_FIELDS only) or None. `cached` holds the entries of
    the cache read, the `extra` ones included."""

    refusal: str
    api_key: ApiKey | None = None
    job: Job | None = None
    message: str = ""
    cached: dict[str, Any] = field(default_factory=dict)
    # A remembered answer to return as it is (status_remember), None when there was none.
    answer: HttpResponse | None = None
    # What a 200 built from this read may be remembered under (None: it may not) and until
    # when it stays right whatever the cache holds (the key's expiry, its next touch).
    memo_key: tuple[Any, ...] | None = None
    valid_until: float = 0.0
    present: frozenset[str] = frozenset()


def status_read(
    request: HttpRequest,
    *,
    token: str,
    job_id: object,
    extra: Callable[[uuid.UUID | None, int | None], list[str]] | None = None,
    memo_tag: str = "",
) -> StatusRead:
    """Check the API key `token` for a status read and load the job's status snapshot.

    `extra(job_id, account_id)` names more cache entries to read in the same round trip
    (`cached`); `account_id` is the key's owner as this process last saw it (None the first
    time), a hint only: entries read for it are used only if the key still belongs to it.

    `memo_tag` (the facade's name) turns on remembered answers: the entries are read as bytes
    and, when a 200 was remembered (`status_remember`) for the same request and the very same
    bytes, `answer` is that response and nothing is decoded or built again."""
    keys = api_key_cache_keys(token) if token else []
    if not keys:
        return StatusRead("auth")
    pk = snapshot_id(job_id)
    wanted = list(keys)
    if pk is not None:
        wanted.append(snapshot_key(pk))
    if extra is not None:
        wanted.extend(extra(pk, _owners.get(keys[0])))
    read_raw = getattr(cache, "get_many_raw", None)
    memo_key = None
    if memo_tag and read_raw is not None:
        raw: dict[str, bytes] = read_raw(wanted)
        memo_key = (memo_tag, *_request_parts(request), *wanted, *(raw.get(k) for k in wanted))
        remembered = _memo.get(memo_key)
        if remembered is not None and time.time() < remembered.valid_until:
            logcontext.bind(**remembered.ids)
            return StatusRead("", answer=remembered.response(), memo_key=memo_key)
        decode = cache.decode  # type: ignore[attr-defined]  # a get_many_raw backend has it
        prefetched = {key: decode(value) for key, value in raw.items()}
    else:
        prefetched = cache.get_many(wanted)
    try:
        api_key = api_key_authenticate(token=token, prefetched=prefetched)
    except ApiKeyInvalid:
        return StatusRead("auth")
    if len(_owners) >= _OWNERS_MAX:
        _owners.clear()
    _owners[keys[0]] = api_key.user_id
    if not api_key_address_allowed(api_key=api_key, address=client_ip(request)):
        return StatusRead("auth")
    if not api_key.has_scope(Scope.READ):
        return StatusRead("scope", api_key, message=scope_denied_message(Scope.READ))
    api_key_touch(api_key=api_key)
    if pk is None:
        return StatusRead("", api_key, cached=prefetched)
    job = job_snapshot_get(user_id=api_key.user_id, job_id=pk, prefetched=prefetched)
    if job is None:
        return StatusRead("", api_key, cached=prefetched)
    logcontext.bind(job_id=pk)
    # Remembered only when the key and the job came from the cache (a database read may be
    # newer than what the cache holds: the same bytes would not mean the same answer).
    entry = prefetched.get(keys[0])
    from_cache = (
        isinstance(entry, dict)
        and entry.get("read_at") == getattr(api_key, "_auth_read_at", None)
        and snapshot_key(pk) in prefetched
    )
    return StatusRead(
        "",
        api_key,
        job,
        cached=prefetched,
        memo_key=memo_key if from_cache else None,
        valid_until=_key_valid_until(api_key),
        present=frozenset(prefetched),
    )


@dataclass(frozen=True)
class _Remembered:
    content: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...]
    valid_until: float
    ids: dict[str, Any]

    def response(self) -> HttpResponse:
        response = HttpResponse(self.content, content_type=self.content_type)
        for name, value in self.headers:
            response[name] = value
        return response


# Answers of this process by request and cache bytes (status_remember). An entry is found only
# with the same bytes of every entry the answer was built from, so any change to the key, its
# fence, the job's snapshot or the facade's extra entries (each is rewritten on every change)
# misses it; the time-bound parts (the key's expiry and touch, a facade's deadline) are its
# `valid_until`.
_memo: dict[tuple[Any, ...], _Remembered] = {}
_MEMO_MAX = 4096
QUEUED_MEMO_SECONDS = 1.0
# The request's parts an answer may depend on (absolute URLs are built from the host and
# scheme when PUBLIC_BASE_URL is unset; the address decides the key's allowed_ips).
_REQUEST_META = (
    "PATH_INFO",
    "QUERY_STRING",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "wsgi.url_scheme",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
)


def _request_parts(request: HttpRequest) -> tuple[Any, ...]:
    meta = request.META
    return (*(meta.get(name) for name in _REQUEST_META), client_ip(request))


def _key_valid_until(api_key: ApiKey) -> float:
    """Until when an answer for this key stays right: its expiry, and its next touch (the
    touch is due again after ACCOUNTS_API_KEY_LAST_USED_RESOLUTION and is a write)."""
    if api_key.last_used_at is None:
        return 0.0
    resolution = settings.ACCOUNTS_API_KEY_LAST_USED_RESOLUTION
    until = api_key.last_used_at.timestamp() + resolution
    if api_key.expires_at is not None:
        until = min(until, api_key.expires_at.timestamp())
    return until


def status_remember(
    read: StatusRead,
    response: HttpResponse,
    *,
    until: float = float("inf"),
    needs: list[str] | tuple[str, ...] = (),
) -> HttpResponse:
    """Remember a 200 built from `read` for the next poll with the same request and cache
    bytes, and return it. `until`: a deadline of the facade's own (a record's retention);
    `needs`: the extra entries the answer was built from, which must have been in the cache
    (one missing was computed from the database and may be newer than the bytes)."""
    if read.memo_key is None or response.status_code != 200 or read.api_key is None:
        return response
    if any(name not in read.present for name in needs):
        return response
    if read.job is not None and read.job.state == Job.State.QUEUED:
        # A waiting job's estimate comes from recorded render times, not from its bytes.
        until = min(until, time.time() + QUEUED_MEMO_SECONDS)
    if len(_memo) >= _MEMO_MAX:
        _memo.clear()
    headers = tuple(
        (name, value) for name, value in response.items() if name.lower() != "content-type"
    )
    _memo[read.memo_key] = _Remembered(
        content=response.content,
        content_type=response["Content-Type"],
        headers=headers,
        valid_until=min(until, read.valid_until),
        ids={
            "account_id": read.api_key.user_id,
            "key_id": read.api_key.pk,
            "job_id": read.job.pk if read.job is not None else None,
        },
    )
    return response


def bearer_token(request: HttpRequest) -> str:
    """The key of an `Authorization: Bearer <key>` header, "" for anything else."""
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return ""
    return parts[1]
