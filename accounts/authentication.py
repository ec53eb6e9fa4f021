"""DRF authentication by API key, one class per header style.

Both answer 401 (not 403) on missing credentials because `authenticate_header` returns a value.
Keys are read only from headers: never from the query string, the body or a cookie.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import ApiKey, Scope, User
from accounts.selectors import ApiKeyInvalid, api_key_address_allowed, api_key_authenticate
from accounts.services import api_key_touch
from veosaas.http import client_ip

ADDRESS_REFUSED = "This API key may not be used from this address."


def _authenticate_token(token: str, request: Request) -> tuple[User, ApiKey]:
    try:
        api_key = api_key_authenticate(token=token)
    except ApiKeyInvalid as exc:
        raise exceptions.AuthenticationFailed("Invalid API key.") from exc
    if not api_key_address_allowed(api_key=api_key, address=client_ip(request)):
        raise exceptions.AuthenticationFailed(ADDRESS_REFUSED)
    api_key_touch(api_key=api_key)
    return api_key.user, api_key


class BearerApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>` (veo3o1 and veo3api facades)."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower():
            raise exceptions.AuthenticationFailed("Invalid Authorization header.")
        return _authenticate_token(parts[1], request)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class HeaderApiKeyAuthentication(BaseAuthentication):
    """`X-API-Key: <key>` (codefast facade)."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        token = request.META.get("HTTP_X_API_KEY", "")
        if not token:
            return None
        return _authenticate_token(token, request)

    def authenticate_header(self, request: Request) -> Any:
        return "X-API-Key"


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def required_scope(view: Any, method: str) -> str:
    """The scope an API key needs for `method` on `view`: the view's `key_scopes[method]`,
    else its `key_scope`, else `read` for safe methods and `generate` for the others."""
    scopes = getattr(view, "key_scopes", None) or {}
    if method in scopes:
        return str(scopes[method])
    scope = getattr(view, "key_scope", None)
    if scope:
        return str(scope)
    return Scope.READ if method in SAFE_METHODS else Scope.GENERATE


class KeyScopePermission(BasePermission):
    """A request authenticated by an API key needs the endpoint's scope (`required_scope`);
    without it DRF raises PermissionDenied (403, rendered by each facade in its format).
    Requests authenticated otherwise (the dashboard's session) are not restricted here."""

    message = "This API key lacks the scope this endpoint needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        scope = required_scope(view, request.method or "GET")
        if api_key.has_scope(scope):
            return True
        raise exceptions.PermissionDenied(scope_denied_message(scope))


def scope_denied_message(scope: str) -> str:
    return f"This API key lacks the '{scope}' scope."
