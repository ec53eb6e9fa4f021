"""API keys over the API: `/api/v1/account/keys[/<id>]` (list / create / get / PATCH /
DELETE = revoke). The raw key is in the create answer only; it is never stored.

Authenticated with `Authorization: Bearer <api key>` holding the `manage` scope (creating or
changing keys also needs every scope and no limits on the acting key); our envelope;
bad input answers 422 with `msg` naming the field (nothing changed); unknown ids (another
account's included) 404. Every change of a key's settings is audited (who, when, old → new).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from accounts.models import ALL_SCOPES, ApiKey, BudgetPeriod
from accounts.selectors import api_key_get, api_key_list
from accounts.services import ApiKeyLimitsInvalid, api_key_revoke
from accounts.typing import AuthenticatedRequest
from billing.selectors import key_budgets_used
from dashboard.apis.base import (
    ENVELOPE_ERROR,
    AccountApi,
    Unprocessable,
    instant,
    ok,
    validated,
)
from generation.services import api_key_issue, api_key_settings_update
from veosaas.api import envelope
from veosaas.strict import int_parse

KEY_NOT_FOUND = "key: no API key with this id"


def key_row(api_key: ApiKey, used: int) -> dict[str, Any]:
    budget = api_key.budget_credits
    return {
        "id": api_key.pk,
        "name": api_key.name,
        "prefix": api_key.prefix,
        "created_at": instant(api_key.created_at),
        "last_used_at": instant(api_key.last_used_at),
        "expires_at": instant(api_key.expires_at),
        "revoked_at": instant(api_key.revoked_at),
        "scopes": list(api_key.scopes or []),
        "budget_credits": budget,
        "budget_period": api_key.budget_period,
        "budget_used": used,
        "budget_remaining": None if budget is None else max(budget - used, 0),
        "allowed_models": list(api_key.allowed_models or []),
        "max_resolution": api_key.max_resolution or None,
        "max_seconds": api_key.max_seconds,
        "rate_limit_per_minute": api_key.rate_limit_per_minute,
        "max_concurrent_jobs": api_key.max_concurrent_jobs,
        "allowed_ips": list(api_key.allowed_ips or []),
    }


KEY_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "prefix": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "last_used_at": {"type": "string", "format": "date-time", "nullable": True},
        "expires_at": {"type": "string", "format": "date-time", "nullable": True},
        "revoked_at": {"type": "string", "format": "date-time", "nullable": True},
        "scopes": {"type": "array", "items": {"type": "string", "enum": list(ALL_SCOPES)}},
        "budget_credits": {"type": "integer", "nullable": True},
        "budget_period": {"type": "string", "enum": BudgetPeriod.values},
        "budget_used": {"type": "integer", "description": "Held + charged this period."},
        "budget_remaining": {"type": "integer", "nullable": True},
        "allowed_models": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Model ids of GET /api/v1/models (empty: every model); tier names "
            "(quality, fast, lite) are still accepted and mean the model running that tier.",
        },
        "max_resolution": {"type": "string", "nullable": True},
        "max_seconds": {"type": "integer", "nullable": True},
        "rate_limit_per_minute": {"type": "integer", "nullable": True},
        "max_concurrent_jobs": {"type": "integer", "nullable": True},
        "allowed_ips": {"type": "array", "items": {"type": "string"}},
        "key": {"type": "string", "description": "The raw key: in the create answer only."},
    },
}


class KeySettingsSerializer(serializers.Serializer):
    """The settings a key can be created with or changed to; all optional, null = no limit."""

    name = serializers.CharField(required=False, max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    scopes = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, max_length=len(ALL_SCOPES)
    )
    budget_credits = serializers.IntegerField(required=False, allow_null=True)
    budget_period = serializers.ChoiceField(choices=BudgetPeriod.values, required=False)
    allowed_models = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=50
    )
    max_resolution = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=16
    )
    max_seconds = serializers.IntegerField(required=False, allow_null=True)
    rate_limit_per_minute = serializers.IntegerField(required=False, allow_null=True)
    max_concurrent_jobs = serializers.IntegerField(required=False, allow_null=True)
    allowed_ips = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=50
    )


ISSUE_REFUSED = (
    "key: only a key with every scope and no limits may create or change keys "
    "(a key cannot issue one looser than itself)"
)


def _check_may_issue(request: AuthenticatedRequest) -> None:
    """Creating or changing keys needs an acting key without limits (the session of the
    dashboard is the account itself)."""
    acting = request.auth
    if isinstance(acting, ApiKey) and not acting.may_issue_keys:
        raise PermissionDenied(ISSUE_REFUSED)


def _key_id(value: str) -> int | None:
    """A key id from the path: ASCII digits only (`isdigit()` also accepts "²")."""
    pk = int_parse(value)
    return pk if pk is not None and pk > 0 and value == str(pk) else None


class KeyListCreateApi(AccountApi):
    """GET/POST /api/v1/account/keys."""

    key_scope = "manage"

    @extend_schema(
        tags=["account"],
        summary="API keys",
        description="The account's keys (revoked ones included), newest first, each with "
        "the credits counted on its budget this period.",
        responses={200: ok({"type": "array", "items": KEY_SCHEMA}), 401: ENVELOPE_ERROR},
        operation_id="account_keys_list",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        keys = list(api_key_list(user=request.user))
        used = key_budgets_used(api_keys=keys)
        return envelope([key_row(k, used[k.pk]) for k in keys])

    @extend_schema(
        tags=["account"],
        summary="Create an API key",
        description="`key` in the answer is the raw key, shown this once. Scopes default to "
        "all; every limit is optional.",
        request=KeySettingsSerializer,
        responses={200: ok(KEY_SCHEMA), 401: ENVELOPE_ERROR, 422: ENVELOPE_ERROR},
        operation_id="account_keys_create",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        _check_may_issue(request)
        data = validated(KeySettingsSerializer(data=request.data))
        name = data.pop("name", "default")
        expires_at = data.pop("expires_at", None)
        try:
            created = api_key_issue(
                user=request.user,
                name=name,
                expires_at=expires_at,
                limits=data,
                actor=request.user,
                via="api",
            )
        except ApiKeyLimitsInvalid as exc:
            raise Unprocessable(str(exc)) from exc
        return envelope({**key_row(created.api_key, 0), "key": created.token})


class KeyDetailApi(AccountApi):
    """GET/PATCH/DELETE /api/v1/account/keys/<id>."""

    key_scope = "manage"

    @extend_schema(
        tags=["account"],
        summary="An API key",
        responses={200: ok(KEY_SCHEMA), 401: ENVELOPE_ERROR, 404: ENVELOPE_ERROR},
        operation_id="account_keys_get",
    )
    def get(self, request: AuthenticatedRequest, key_id: str) -> Response:
        pk = _key_id(key_id)
        api_key = api_key_get(user=request.user, key_id=pk) if pk is not None else None
        if api_key is None:
            return envelope(None, code=404, msg=KEY_NOT_FOUND)
        return envelope(key_row(api_key, key_budgets_used(api_keys=[api_key])[api_key.pk]))

    @extend_schema(
        tags=["account"],
        summary="Change an API key",
        description="Only the fields sent change; null removes a limit. Recorded in the key's "
        "audit trail.",
        request=KeySettingsSerializer,
        responses={
            200: ok(KEY_SCHEMA),
            401: ENVELOPE_ERROR,
            404: ENVELOPE_ERROR,
            422: ENVELOPE_ERROR,
        },
        operation_id="account_keys_update",
    )
    def patch(self, request: AuthenticatedRequest, key_id: str) -> Response:
        pk = _key_id(key_id)
        api_key = api_key_get(user=request.user, key_id=pk) if pk is not None else None
        if api_key is None:
            return envelope(None, code=404, msg=KEY_NOT_FOUND)
        _check_may_issue(request)
        data = validated(KeySettingsSerializer(data=request.data))
        try:
            api_key = api_key_settings_update(
                api_key=api_key, changes=data, actor=request.user, via="api"
            )
        except ApiKeyLimitsInvalid as exc:
            raise Unprocessable(str(exc)) from exc
        return envelope(key_row(api_key, key_budgets_used(api_keys=[api_key])[api_key.pk]))

    @extend_schema(
        tags=["account"],
        summary="Revoke an API key",
        description="Takes effect at once in every process; idempotent.",
        responses={200: ok(KEY_SCHEMA), 401: ENVELOPE_ERROR, 404: ENVELOPE_ERROR},
        operation_id="account_keys_revoke",
    )
    def delete(self, request: AuthenticatedRequest, key_id: str) -> Response:
        pk = _key_id(key_id)
        api_key = api_key_get(user=request.user, key_id=pk) if pk is not None else None
        if api_key is None:
            return envelope(None, code=404, msg=KEY_NOT_FOUND)
        api_key = api_key_revoke(api_key=api_key)
        return envelope(key_row(api_key, key_budgets_used(api_keys=[api_key])[api_key.pk]))
