"""Top-up REST API (`GET /api/v1/billing/packs`, `POST /api/v1/billing/checkout-sessions`) and
account management (`/api/v1/account/usage`, `/usage/daily`, `/alerts`, `/callback-url`).

Authenticated with `Authorization: Bearer <api key>`. Every answer is the envelope
`{"code": <int>, "msg": <str>, "data": ...}`: code 200 on success; on errors the HTTP status
equals the code (400, 401, 404, 405, 422, 503) and `msg` starts with the field it is about.
"""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.authentication import BearerApiKeyAuthentication
from billing.alerts import (
    THRESHOLD_MAX,
    AlertInvalid,
    AlertNotFound,
    alert_create,
    alert_delete,
    alert_update,
)
from billing.errors import PackUnavailable, PaymentsNotConfigured
from billing.models import CreditPack, UsageAlert
from billing.selectors import credit_pack_get, credit_packs_active
from billing.stripe_client import StripeUnavailable
from billing.topups import topup_checkout_create
from billing.usage import (
    USAGE_KINDS,
    USAGE_PAGE_MAX,
    UsageQueryInvalid,
    UsageRecord,
    alert_get,
    alerts_for_user,
    local_today,
    usage_daily,
    usage_query_build,
    usage_records_iter,
    usage_records_page,
    usage_time_zone,
)
from outbound.errors import CallbackUrlInvalid
from outbound.selectors import account_callback_url_get
from outbound.services import account_callback_url_set

BIGINT_MAX = 2**63 - 1


def envelope(data: Any, *, code: int = 200, msg: str = "success") -> Response:
    return Response({"code": code, "msg": msg, "data": data}, status=code)


def _first_error(detail: Any, field: str = "body") -> str:
    """`field: message` of the first error in a DRF error structure."""
    if isinstance(detail, dict) and detail:
        name, value = next(iter(detail.items()))
        return _first_error(value, "body" if name == "non_field_errors" else str(name))
    if isinstance(detail, list) and detail:
        return _first_error(detail[0], field)
    return f"{field}: {detail}"


def envelope_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status, WWW-Authenticate), with the body rewritten as our envelope."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        msg = f"authorization: {exc.detail}"
    elif isinstance(exc, exceptions.ValidationError):
        msg = _first_error(exc.detail)
    elif isinstance(exc, exceptions.ParseError):
        msg = f"body: {exc.detail}"
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        msg = f"content-type: {exc.detail}"
    elif isinstance(exc, exceptions.MethodNotAllowed):
        msg = f"method: {exc.detail}"
    elif isinstance(exc, exceptions.APIException):
        msg = str(exc.detail)
    else:
        msg = response.reason_phrase
    response.data = {"code": response.status_code, "msg": msg, "data": None}
    return response


class EnvelopeApi(APIView):
    authentication_classes = [BearerApiKeyAuthentication]
    permission_classes = [IsAuthenticated]

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response | None]:
        return envelope_exception_handler


class CreditPackListApi(EnvelopeApi):
    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = CreditPack
            fields = ("id", "name", "credits", "price", "currency")

    def get(self, request: Request) -> Response:
        packs = credit_packs_active()
        return envelope(self.OutputSerializer(packs, many=True).data)


class CheckoutSessionCreateApi(EnvelopeApi):
    class InputSerializer(serializers.Serializer):
        pack = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pack = credit_pack_get(pack_id=serializer.validated_data["pack"])
        if pack is None:
            return envelope(None, code=404, msg="pack: no credit pack with this id")
        try:
            start = topup_checkout_create(
                user=request.user,
                pack=pack,
                base_url=settings.PUBLIC_BASE_URL or request.build_absolute_uri("/"),
            )
        except PaymentsNotConfigured:
            return envelope(None, code=503, msg="payments: payments are not configured")
        except PackUnavailable:
            return envelope(None, code=422, msg="pack: this credit pack is not available")
        except StripeUnavailable:
            return envelope(
                None, code=503, msg="payments: the payment provider is unavailable, try again"
            )
        return envelope({"id": start.session_id, "url": start.url, "topup": str(start.topup.uid)})


# ---------------------------------------------------------------------------------------------
# Account management (veo3api.ai "track usage records", "set up usage alerts"):
#   GET /api/v1/account/usage[?format=csv], GET /api/v1/account/usage/daily,
#   /api/v1/account/alerts[/<id>], GET/PUT /api/v1/account/callback-url.
# Same envelope; bad input answers 422 with `msg` naming the field, unknown ids (another
# account's included) 404.
# ---------------------------------------------------------------------------------------------

USAGE_CSV_HEADER = [
    "id",
    "created_at",
    "kind",
    "entry",
    "amount",
    "charged",
    "balance_after",
    "job_id",
    "facade",
    "api_key_name",
    "reason",
]
KIND_ALIASES = {"topup": "top-up", "top_up": "top-up", "expire": "release"}
TASK_ID_PREFIXES = ("veo_extend_task_", "veo_task_")


class Unprocessable(exceptions.APIException):
    status_code = 422
    default_detail = "body: invalid input"


def _validated(serializer: serializers.Serializer) -> dict[str, Any]:
    if not serializer.is_valid():
        raise Unprocessable(_first_error(serializer.errors))
    return dict(serializer.validated_data)


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class DateOrDateTimeField(serializers.Field):
    """An ISO 8601 date (2025-01-31) or date-time (2025-01-31T12:00:00+03:00, Z, or no
    offset: read in the usage time zone)."""

    default_error_messages = {"invalid": "must be an ISO date (YYYY-MM-DD) or date-time"}

    def to_internal_value(self, data: Any) -> date | datetime:
        if not isinstance(data, str) or len(data) > 40:
            self.fail("invalid")
        text = data.strip()
        # An unencoded "+" of an offset arrives as a space in a query string.
        text = re.sub(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d(?::?\d\d)?)$", r"\1+\2", text)
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                return date.fromisoformat(text)
            return datetime.fromisoformat(text)
        except ValueError:
            self.fail("invalid")
        raise AssertionError  # unreachable: fail() raises

    def to_representation(self, value: Any) -> str:
        return value.isoformat()


class _RangeSerializer(serializers.Serializer):
    to = DateOrDateTimeField(required=False)

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword, so it cannot be declared as a class attribute.
        return {"from": DateOrDateTimeField(required=False), **super().get_fields()}


class AccountApi(EnvelopeApi):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # `?format=csv` is the usage endpoint's own parameter, not DRF's renderer switch (which
        # would answer 404 for a format without a renderer): always JSON envelopes here.
        renderer = JSONRenderer()
        return renderer, renderer.media_type


def _usage_row(record: UsageRecord) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "created_at": _instant(record.created_at),
        "kind": record.kind,
        "entry": record.entry,
        "amount": record.amount,
        "charged": record.charged,
        "balance_after": record.balance_after,
        "job_id": str(record.job_id) if record.job_id else None,
        "facade": record.facade,
        "api_key_name": record.api_key_name,
        "reason": record.reason,
    }


def _csv_text(value: str | None) -> str:
    """Text a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    value = value or ""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


class _Echo:
    def write(self, value: str) -> str:
        return value


def _usage_csv(records: Iterator[UsageRecord]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(USAGE_CSV_HEADER)
        for r in records:
            yield writer.writerow(
                [
                    r.id,
                    _instant(r.created_at),
                    r.kind,
                    r.entry,
                    r.amount,
                    r.charged,
                    "" if r.balance_after is None else r.balance_after,
                    r.job_id or "",
                    r.facade or "",
                    _csv_text(r.api_key_name),
                    _csv_text(r.reason),
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="usage-{timezone.localdate():%Y%m%d}.csv"'
    )
    return response


ENVELOPE_ERROR = OpenApiResponse(
    response={
        "type": "object",
        "properties": {"code": {"type": "integer"}, "msg": {"type": "string"}, "data": {}},
    },
    description="The HTTP status equals `code`; `msg` starts with the field it is about.",
)
USAGE_ROW_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "created_at": {"type": "string", "format": "date-time"},
        "kind": {"type": "string", "enum": list(USAGE_KINDS)},
        "entry": {"type": "string", "description": "Ledger kind (expire is listed as release)."},
        "amount": {"type": "integer", "description": "Signed change of available credits."},
        "charged": {"type": "integer", "description": "Credits charged (captures), else 0."},
        "balance_after": {"type": "integer", "nullable": True},
        "job_id": {"type": "string", "format": "uuid", "nullable": True},
        "facade": {"type": "string", "nullable": True},
        "api_key_name": {"type": "string", "nullable": True},
        "reason": {"type": "string"},
    },
}


def _ok(data: dict[str, Any], description: str = "") -> OpenApiResponse:
    return OpenApiResponse(
        response={
            "type": "object",
            "properties": {
                "code": {"type": "integer", "enum": [200]},
                "msg": {"type": "string"},
                "data": data,
            },
        },
        description=description,
    )


class UsageListApi(AccountApi):
    """GET /api/v1/account/usage: the account's ledger entries, newest first."""

    class QuerySerializer(_RangeSerializer):
        kind = serializers.CharField(required=False, max_length=200)
        job_id = serializers.CharField(required=False, max_length=100)
        limit = serializers.IntegerField(
            required=False, min_value=1, max_value=USAGE_PAGE_MAX, default=50
        )
        cursor = serializers.CharField(required=False, max_length=1000)
        format = serializers.ChoiceField(required=False, choices=["json", "csv"], default="json")

        def validate_kind(self, value: str) -> list[str]:
            names = [n.strip().lower() for n in value.split(",") if n.strip()]
            return [KIND_ALIASES.get(n, n) for n in names]

        def validate_job_id(self, value: str) -> uuid.UUID:
            text = value.strip()
            for prefix in TASK_ID_PREFIXES:
                text = text.removeprefix(prefix)
            try:
                return uuid.UUID(text)
            except ValueError as exc:
                raise serializers.ValidationError(
                    "must be a job id (UUID) or a veo3api taskId"
                ) from exc

    @extend_schema(
        tags=["account"],
        summary="Usage records",
        description="Ledger entries newest first, keyset-paginated (`next_cursor`); "
        "`format=csv` streams every matching row. Kinds: " + ", ".join(USAGE_KINDS),
        parameters=[
            OpenApiParameter("from", str, description="ISO date or date-time (inclusive)"),
            OpenApiParameter("to", str, description="ISO date (whole day) or date-time"),
            OpenApiParameter("kind", str, description="comma-separated kinds"),
            OpenApiParameter("job_id", str, description="job UUID or veo3api taskId"),
            OpenApiParameter("limit", int, description="1-200, default 50"),
            OpenApiParameter("cursor", str, description="`next_cursor` of the previous page"),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
        responses={
            200: _ok(
                {
                    "type": "object",
                    "properties": {
                        "records": {"type": "array", "items": USAGE_ROW_SCHEMA},
                        "next_cursor": {"type": "string", "nullable": True},
                        "time_zone": {"type": "string"},
                    },
                }
            ),
            401: ENVELOPE_ERROR,
            422: ENVELOPE_ERROR,
        },
        operation_id="account_usage",
    )
    def get(self, request: Request) -> Response | StreamingHttpResponse:
        params = _validated(self.QuerySerializer(data=request.query_params))
        try:
            query = usage_query_build(
                start=params.get("from"),
                end=params.get("to"),
                kinds=params.get("kind"),
                job_id=params.get("job_id"),
            )
            if params["format"] == "csv":
                return _usage_csv(usage_records_iter(user=request.user, query=query))
            page = usage_records_page(
                user=request.user, query=query, limit=params["limit"], cursor=params.get("cursor")
            )
        except UsageQueryInvalid as exc:
            raise Unprocessable(str(exc)) from exc
        return envelope(
            {
                "records": [_usage_row(r) for r in page.records],
                "next_cursor": page.next_cursor,
                "time_zone": settings.GENERATION_DAILY_LIMIT_TIME_ZONE,
            }
        )


class UsageDailyApi(AccountApi):
    """GET /api/v1/account/usage/daily: per-day totals for charts."""

    DEFAULT_DAYS = 30

    @extend_schema(
        tags=["account"],
        summary="Usage per day",
        description="Credits used (captured) and added, jobs succeeded and failed, per day "
        "(days in `time_zone`). Default: the last 30 days; at most 366.",
        parameters=[
            OpenApiParameter("from", str, description="ISO date"),
            OpenApiParameter("to", str, description="ISO date (inclusive)"),
        ],
        responses={
            200: _ok(
                {
                    "type": "object",
                    "properties": {
                        "from": {"type": "string", "format": "date"},
                        "to": {"type": "string", "format": "date"},
                        "time_zone": {"type": "string"},
                        "days": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "date": {"type": "string", "format": "date"},
                                    "credits_used": {"type": "integer"},
                                    "credits_added": {"type": "integer"},
                                    "jobs_succeeded": {"type": "integer"},
                                    "jobs_failed": {"type": "integer"},
                                },
                            },
                        },
                    },
                }
            ),
            401: ENVELOPE_ERROR,
            422: ENVELOPE_ERROR,
        },
        operation_id="account_usage_daily",
    )
    def get(self, request: Request) -> Response:
        params = _validated(_RangeSerializer(data=request.query_params))
        zone = usage_time_zone()

        def day(value: date | datetime | None) -> date | None:
            if isinstance(value, datetime):
                return (
                    (value if timezone.is_aware(value) else value.replace(tzinfo=zone))
                    .astimezone(zone)
                    .date()
                )
            return value

        last = day(params.get("to")) or local_today()
        first = day(params.get("from")) or last - timedelta(days=self.DEFAULT_DAYS - 1)
        try:
            days = usage_daily(user=request.user, first=first, last=last)
        except UsageQueryInvalid as exc:
            raise Unprocessable(str(exc)) from exc
        return envelope(
            {
                "from": first.isoformat(),
                "to": last.isoformat(),
                "time_zone": settings.GENERATION_DAILY_LIMIT_TIME_ZONE,
                "days": [
                    {
                        "date": d.day.isoformat(),
                        "credits_used": d.credits_used,
                        "credits_added": d.credits_added,
                        "jobs_succeeded": d.jobs_succeeded,
                        "jobs_failed": d.jobs_failed,
                    }
                    for d in days
                ],
            }
        )


class AlertOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = UsageAlert
        fields = (
            "id",
            "metric",
            "threshold",
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
    return int(value) if value.isdigit() and len(value) <= 18 else None


class AlertListCreateApi(AccountApi):
    """GET/POST /api/v1/account/alerts."""

    class AlertCreateInputSerializer(serializers.Serializer):
        metric = serializers.ChoiceField(choices=UsageAlert.Metric.values)
        threshold = serializers.IntegerField(min_value=0, max_value=THRESHOLD_MAX)
        email = serializers.BooleanField(required=False, default=True)
        webhook = serializers.BooleanField(required=False, default=True)

    @extend_schema(
        tags=["account"],
        summary="Usage alerts",
        responses={200: _ok({"type": "array", "items": ALERT_SCHEMA}), 401: ENVELOPE_ERROR},
        operation_id="account_alerts_list",
    )
    def get(self, request: Request) -> Response:
        return envelope(AlertOutputSerializer(alerts_for_user(user=request.user), many=True).data)

    @extend_schema(
        tags=["account"],
        summary="Create a usage alert",
        description="`available_below`: available credits < threshold; `used_today_above`: "
        "credits captured since local midnight > threshold. Notified once per "
        "crossing by email and, when a callback URL is set, by a signed webhook.",
        request=AlertCreateInputSerializer,
        responses={200: _ok(ALERT_SCHEMA), 401: ENVELOPE_ERROR, 422: ENVELOPE_ERROR},
        operation_id="account_alerts_create",
    )
    def post(self, request: Request) -> Response:
        data = _validated(self.AlertCreateInputSerializer(data=request.data))
        try:
            alert = alert_create(user=request.user, **data)
        except AlertInvalid as exc:
            raise Unprocessable(str(exc)) from exc
        return envelope(AlertOutputSerializer(alert).data)


class AlertDetailApi(AccountApi):
    """GET/PATCH/DELETE /api/v1/account/alerts/<id>."""

    class AlertPatchSerializer(serializers.Serializer):
        threshold = serializers.IntegerField(required=False, min_value=0, max_value=THRESHOLD_MAX)
        active = serializers.BooleanField(required=False)
        email = serializers.BooleanField(required=False)
        webhook = serializers.BooleanField(required=False)

    @extend_schema(
        tags=["account"],
        summary="A usage alert",
        responses={200: _ok(ALERT_SCHEMA), 401: ENVELOPE_ERROR, 404: ENVELOPE_ERROR},
        operation_id="account_alerts_get",
    )
    def get(self, request: Request, alert_id: str) -> Response:
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
            200: _ok(ALERT_SCHEMA),
            401: ENVELOPE_ERROR,
            404: ENVELOPE_ERROR,
            422: ENVELOPE_ERROR,
        },
        operation_id="account_alerts_update",
    )
    def patch(self, request: Request, alert_id: str) -> Response:
        pk = _alert_id(alert_id)
        if pk is None:
            return envelope(None, code=404, msg=ALERT_NOT_FOUND)
        data = _validated(self.AlertPatchSerializer(data=request.data))
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
            200: _ok({"type": "object", "properties": {"id": {"type": "integer"}}}),
            401: ENVELOPE_ERROR,
            404: ENVELOPE_ERROR,
        },
        operation_id="account_alerts_delete",
    )
    def delete(self, request: Request, alert_id: str) -> Response:
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

    class CallbackUrlSerializer(serializers.Serializer):
        url = serializers.CharField(allow_blank=True, max_length=2048, trim_whitespace=True)

    URL_SCHEMA = {"type": "object", "properties": {"url": {"type": "string"}}}

    @extend_schema(
        tags=["account"],
        summary="Account callback URL",
        responses={200: _ok(URL_SCHEMA), 401: ENVELOPE_ERROR},
        operation_id="account_callback_url_get",
    )
    def get(self, request: Request) -> Response:
        return envelope({"url": account_callback_url_get(user=request.user)})

    @extend_schema(
        tags=["account"],
        summary="Set the account callback URL",
        description='Public http(s) URL (checked now and at every delivery); "" clears it. '
        "Events are signed like job callbacks (X-Webhook-Signature, Standard "
        "Webhooks).",
        request=CallbackUrlSerializer,
        responses={200: _ok(URL_SCHEMA), 401: ENVELOPE_ERROR, 422: ENVELOPE_ERROR},
        operation_id="account_callback_url_set",
    )
    def put(self, request: Request) -> Response:
        data = _validated(self.CallbackUrlSerializer(data=request.data))
        try:
            url = account_callback_url_set(user=request.user, url=data["url"])
        except CallbackUrlInvalid as exc:
            raise Unprocessable(str(exc)) from exc
        return envelope({"url": url})
