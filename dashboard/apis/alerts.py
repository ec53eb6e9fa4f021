"""Usage alerts (veo3api.ai "set up usage alerts"): `/api/v1/account/alerts[/<id>]`, and the
account callback URL they are POSTed to: `GET/PUT /api/v1/account/callback-url`.

Authenticated with `Authorization: Bearer <api key>`; our envelope; bad input answers 422 with
`msg` naming the field, unknown ids (another account's included) 404.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.typing import AuthenticatedRequest
from billing.alerts import (
    THRESHOLD_MAX,
    AlertInvalid,
    AlertNotFound,
    alert_create,
    alert_delete,
    alert_update,
)
from billing.models import UsageAlert
from billing.selectors import alert_get, alerts_for_user
from dashboard.apis.base import ENVELOPE_ERROR, AccountApi, Unprocessable, ok, validated
from outbound.errors import CallbackUrlInvalid
from outbound.selectors import account_callback_url_get
from outbound.services import account_callback_url_set
from veosaas.api import envelope
from veosaas.strict import int_parse


class AlertOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = UsageAlert
        fields = (
            "id",
            "metric",
            "threshold",
            "api_key_id",
            "email",
            "webhook",
            "active",
            "state",
            "fired_at",
            "fired_value",
            "created_at",
            "updated_at",
        )


ALERT_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "metric": {"type": "string", "enum": UsageAlert.Metric.values},
        "threshold": {"type": "integer"},
        "api_key_id": {"type": "integer", "nullable": True},
        "email": {"type": "boolean"},
        "webhook": {"type": "boolean"},
        "active": {"type": "boolean"},
        "state": {"type": "string", "enum": UsageAlert.State.values},
        "fired_at": {"type": "string", "format": "date-time", "nullable": True},
        "fired_value": {"type": "integer", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
ALERT_NOT_FOUND = "alert: no alert with this id"


def _alert_id(value: str) -> int | None:
    number = int_parse(value)  # ASCII digits within a bigint (never "²")
    return number if number is not None and number >= 0 else None


class AlertListCreateApi(AccountApi):
    """GET/POST /api/v1/account/alerts."""

    key_scope = "manage"

    class AlertCreateInputSerializer(serializers.Serializer):
        metric = serializers.ChoiceField(choices=UsageAlert.Metric.values)
        threshold = serializers.IntegerField(min_value=0, max_value=THRESHOLD_MAX)
        key = serializers.IntegerField(required=False, min_value=1)
        email = serializers.BooleanField(required=False, default=True)
        webhook = serializers.BooleanField(required=False, default=True)

    @extend_schema(
        tags=["account"],
        summary="Usage alerts",
        responses={200: ok({"type": "array", "items": ALERT_SCHEMA}), 401: ENVELOPE_ERROR},
        operation_id="account_alerts_list",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        return envelope(AlertOutputSerializer(alerts_for_user(user=request.user), many=True).data)

    @extend_schema(
        tags=["account"],
        summary="Create a usage alert",
        description="`available_below`: available credits < threshold; `used_today_above`: "
        "credits captured since local midnight > threshold; `key_budget_used_above` "
        "(with `key`: an API key id): percent of that key's budget used this period > "
        "threshold. Notified once per "
        "crossing by email and, when a callback URL is set, by a signed webhook.",
        request=AlertCreateInputSerializer,
        responses={200: ok(ALERT_SCHEMA), 401: ENVELOPE_ERROR, 422: ENVELOPE_ERROR},
        operation_id="account_alerts_create",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        data = validated(self.AlertCreateInputSerializer(data=request.data))
        data["api_key_id"] = data.pop("key", None)
        try:
            alert = alert_create(user=request.user, **data)
        except AlertInvalid as exc:
            raise Unprocessable(str(exc)) from exc
        return envelope(AlertOutputSerializer(alert).data)


class AlertDetailApi(AccountApi):
    """GET/PATCH/DELETE /api/v1/account/alerts/<id>."""

    key_scope = "manage"

    class AlertPatchSerializer(serializers.Serializer):
        threshold = serializers.IntegerField(required=False, min_value=0, max_value=THRESHOLD_MAX)
        active = serializers.BooleanField(required=False)
        email = serializers.BooleanField(required=False)
        webhook = serializers.BooleanField(required=False)

    @extend_schema(
        tags=["account"],
        summary="A usage alert",
        responses={200: ok(ALERT_SCHEMA), 401: ENVELOPE_ERROR, 404: ENVELOPE_ERROR},
        operation_id="account_alerts_get",
    )
    def get(self, request: AuthenticatedRequest, alert_id: str) -> Response:
        pk = _alert_id(alert_id)
        alert = alert_get(user=request.user, alert_id=pk) if pk is not None else None
        if alert is None:
            return envelope(None, code=404, msg=ALERT_NOT_FOUND)
        return envelope(AlertOutputSerializer(alert).data)

    @extend_schema(
        tags=["account"],
        summary="Change a usage alert",
        description="A new threshold or re-activation re-arms the alert.",
        request=AlertPatchSerializer,
        responses={
            200: ok(ALERT_SCHEMA),
            401: ENVELOPE_ERROR,
            404: ENVELOPE_ERROR,
            422: ENVELOPE_ERROR,
        },
        operation_id="account_alerts_update",
    )
    def patch(self, request: AuthenticatedRequest, alert_id: str) -> Response:
        pk = _alert_id(alert_id)
        if pk is None:
            return envelope(None, code=404, msg=ALERT_NOT_FOUND)
        data = validated(self.AlertPatchSerializer(data=request.data))
        try:
            alert = alert_update(user=request.user, alert_id=pk, **data)
        except AlertNotFound:
            return envelope(None, code=404, msg=ALERT_NOT_FOUND)
        except AlertInvalid as exc:
            raise Unprocessable(str(exc)) from exc
        return envelope(AlertOutputSerializer(alert).data)

    @extend_schema(
        tags=["account"],
        summary="Delete a usage alert",
        responses={
            200: ok({"type": "object", "properties": {"id": {"type": "integer"}}}),
            401: ENVELOPE_ERROR,
            404: ENVELOPE_ERROR,
        },
        operation_id="account_alerts_delete",
    )
    def delete(self, request: AuthenticatedRequest, alert_id: str) -> Response:
        pk = _alert_id(alert_id)
        try:
            if pk is None:
                raise AlertNotFound(alert_id)
            alert_delete(user=request.user, alert_id=pk)
        except AlertNotFound:
            return envelope(None, code=404, msg=ALERT_NOT_FOUND)
        return envelope({"id": pk})


class CallbackUrlApi(AccountApi):
    """GET/PUT /api/v1/account/callback-url: where account events (usage alerts) are POSTed."""

    key_scope = "manage"

    class CallbackUrlSerializer(serializers.Serializer):
        url = serializers.CharField(allow_blank=True, max_length=2048, trim_whitespace=True)

    URL_SCHEMA = {"type": "object", "properties": {"url": {"type": "string"}}}

    @extend_schema(
        tags=["account"],
        summary="Account callback URL",
        responses={200: ok(URL_SCHEMA), 401: ENVELOPE_ERROR},
        operation_id="account_callback_url_get",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        return envelope({"url": account_callback_url_get(user=request.user)})

    @extend_schema(
        tags=["account"],
        summary="Set the account callback URL",
        description='Public http(s) URL (checked now and at every delivery); "" clears it. '
        "Events are signed like job callbacks (X-Webhook-Signature, Standard "
        "Webhooks).",
        request=CallbackUrlSerializer,
        responses={200: ok(URL_SCHEMA), 401: ENVELOPE_ERROR, 422: ENVELOPE_ERROR},
        operation_id="account_callback_url_set",
    )
    def put(self, request: AuthenticatedRequest) -> Response:
        data = validated(self.CallbackUrlSerializer(data=request.data))
        try:
            url = account_callback_url_set(user=request.user, url=data["url"])
        except CallbackUrlInvalid as exc:
            raise Unprocessable(str(exc)) from exc
        return envelope({"url": url})
