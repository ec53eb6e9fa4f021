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
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


def status_read(
    request: HttpRequest,
    *,
    token: str,
    job_id: object,
    extra: Callable[[uuid.UUID | None, int | None], list[str]] | None = None,
) -> StatusRead:
    """Check the API key `token` for a status read and load the job's status snapshot.

    `extra(job_id, account_id)` names more cache entries to read in the same round trip
    (`cached`); `account_id` is the key's owner as this process last saw it (None the first
    time), a hint only: entries read for it are used only if the key still belongs to it."""
    keys = api_key_cache_keys(token) if token else []
    if not keys:
        return StatusRead("auth")
    pk = snapshot_id(job_id)
    wanted = list(keys)
    if pk is not None:
        wanted.append(snapshot_key(pk))
    if extra is not None:
        wanted.extend(extra(pk, _owners.get(keys[0])))
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
    if job is not None:
        logcontext.bind(job_id=pk)
    return StatusRead("", api_key, job, cached=prefetched)


def bearer_token(request: HttpRequest) -> str:
    """The key of an `Authorization: Bearer <key>` header, "" for anything else."""
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return ""
    return parts[1]
