"""Login throttling on the shared cache: per account and per client address, with lockout.

Every interactive login counts its failures here: the dashboard's password login, its API-key
login and the admin's login. `ACCOUNTS_LOGIN_MAX_FAILURES` failures for one account (email, or
the key's visible prefix) within `ACCOUNTS_LOGIN_WINDOW_SECONDS` lock that account's logins,
and `ACCOUNTS_LOGIN_MAX_FAILURES_PER_ADDRESS` failures from one address lock that address, for
`ACCOUNTS_LOGIN_LOCKOUT_SECONDS` — even for the right password, which is the point. A
success clears the account's count. The client address is REMOTE_ADDR, or with
`ACCOUNTS_TRUSTED_PROXY_COUNT` = n, the address n hops from the right of X-Forwarded-For
(the one the nearest trusted proxy saw).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


@dataclass(frozen=True)
class Lockout:
    scope: str  # "account" or "address"
    retry_after: int  # seconds

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))


def client_address(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    hops = settings.ACCOUNTS_TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return str(request.META.get("REMOTE_ADDR", ""))


def _key(kind: str, scope: str, value: str, what: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode("utf-8", "replace")).hexdigest()[:40]
    return f"login:{what}:{kind}:{scope}:{digest}"


def _subjects(kind: str, account: str, address: str) -> list[tuple[str, str, int]]:
    subjects = []
    if account:
        subjects.append(("account", account, settings.ACCOUNTS_LOGIN_MAX_FAILURES))
    if address:
        # The address limit is shared by every kind of login.
        subjects.append(("address", address, settings.ACCOUNTS_LOGIN_MAX_FAILURES_PER_ADDRESS))
    return subjects


def login_lockout_get(*, kind: str, account: str, address: str) -> Lockout | None:
    """The lockout in force for this account or address, or None."""
    keys = {
        scope: _key(kind if scope == "account" else "any", scope, value, "lock")
        for scope, value, _ in _subjects(kind, account, address)
    }
    found = cache.get_many(list(keys.values()))
    now = time.time()
    for scope, key in keys.items():
        until = found.get(key)
        if isinstance(until, float) and until > now:
            return Lockout(scope=scope, retry_after=math.ceil(until - now))
    return None


def login_failure_record(*, kind: str, account: str, address: str) -> Lockout | None:
    """Count a failed login; returns the lockout it starts, if any."""
    window = settings.ACCOUNTS_LOGIN_WINDOW_SECONDS
    lockout = settings.ACCOUNTS_LOGIN_LOCKOUT_SECONDS
    started: Lockout | None = None
    for scope, value, limit in _subjects(kind, account, address):
        kind_key = kind if scope == "account" else "any"
        counter = _key(kind_key, scope, value, "fail")
        cache.add(counter, 0, window)
        try:
            count = cache.incr(counter)
        except ValueError:  # expired between add and incr
            cache.set(counter, 1, window)
            count = 1
        if count >= limit:
            cache.set(_key(kind_key, scope, value, "lock"), time.time() + lockout, lockout)
            cache.delete(counter)
            started = started or Lockout(scope=scope, retry_after=lockout)
    return started


def login_success_record(*, kind: str, account: str) -> None:
    """A successful login clears the account's failure count (not an address lockout)."""
    if account:
        cache.delete(_key(kind, "account", account, "fail"))
