"""DRF authentication by API key, one class per header style.

Both answer 401 (not 403) on missing credentials because `authenticate_header` returns a value.
Keys are read only from headers: never from the query string, the body or a cookie.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts.models import ApiKey, User
from accounts.selectors import ApiKeyInvalid, api_key_authenticate
from accounts.services import api_key_touch


def _authenticate_token(token: str) -> tuple[User, ApiKey]:
    try:
        api_key = api_key_authenticate(token=token)
    except ApiKeyInvalid as exc:
        raise exceptions.AuthenticationFailed("Invalid API key.") from exc
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
        return _authenticate_token(parts[1])

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class HeaderApiKeyAuthentication(BaseAuthentication):
    """`X-API-Key: <key>` (codefast facade)."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        token = request.META.get("HTTP_X_API_KEY", "")
        if not token:
            return None
        return _authenticate_token(token)

    def authenticate_header(self, request: Request) -> Any:
        return "X-API-Key"
