"""Account usage (veo3api.ai "track usage records"): `GET /api/v1/account/usage[?format=csv]`
and `GET /api/v1/account/usage/daily`.

Authenticated with `Authorization: Bearer <api key>`; our envelope; bad input answers 422 with
`msg` naming the field.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.selectors import api_key_get, api_key_list
from accounts.typing import AuthenticatedRequest
from billing.selectors import key_budgets_used
from billing.usage import local_day_start, local_today, usage_time_zone
from dashboard.apis.base import (
    ENVELOPE_ERROR,
    AccountApi,
    RangeSerializer,
    Unprocessable,
    instant,
    ok,
    validated,
)
from dashboard.selectors import (
    USAGE_KINDS,
    USAGE_PAGE_MAX,
    UsageQueryInvalid,
    UsageRecord,
    usage_daily,
    usage_query_build,
    usage_records_iter,
    usage_records_page,
)
from generation.selectors import usage_by_key
from veosaas.api import envelope
from veosaas.http import csv_stream

# One kind column: the ledger entry's own name only where it adds something ("release
# (expire)"); the JSON records keep both fields for programs.
USAGE_CSV_HEADER = [
    "id",
    "created_at",
    "kind",
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


def _usage_row(record: UsageRecord) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "created_at": instant(record.created_at),
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


def _csv_kind(record: UsageRecord) -> str:
    if record.entry in (record.kind, record.kind.replace("-", "")):
        return record.kind
    return f"{record.kind} ({record.entry})"


def _usage_csv(records: Iterator[UsageRecord]) -> StreamingHttpResponse:
    """Every matching record as a streamed CSV download."""
    rows = (
        [
            r.id,
            instant(r.created_at),
            _csv_kind(r),
            r.amount,
            r.charged,
            r.balance_after,
            r.job_id,
            r.facade,
            r.api_key_name,
            r.reason,
        ]
        for r in records
    )
    return csv_stream(
        filename=f"usage-{timezone.localdate():%Y%m%d}.csv", header=USAGE_CSV_HEADER, rows=rows
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


class UsageListApi(AccountApi):
    """GET /api/v1/account/usage: the account's ledger entries, newest first."""

    class QuerySerializer(RangeSerializer):
        kind = serializers.CharField(required=False, max_length=200)
        job_id = serializers.CharField(required=False, max_length=100)
        key = serializers.IntegerField(required=False, min_value=1)
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
            OpenApiParameter("key", int, description="API key id: entries of its jobs"),
            OpenApiParameter("limit", int, description="1-200, default 50"),
            OpenApiParameter("cursor", str, description="`next_cursor` of the previous page"),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
        responses={
            200: ok(
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
    def get(self, request: AuthenticatedRequest) -> Response | StreamingHttpResponse:
        params = validated(self.QuerySerializer(data=request.query_params))
        key_id = params.get("key")
        if key_id is not None and api_key_get(user=request.user, key_id=key_id) is None:
            raise Unprocessable("key: no API key with this id")
        try:
            query = usage_query_build(
                start=params.get("from"),
                end=params.get("to"),
                kinds=params.get("kind"),
                job_id=params.get("job_id"),
                api_key_id=key_id,
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
                "time_zone": settings.TIME_ZONE,
            }
        )


def _local_day(value: date | datetime | None) -> date | None:
    """A date parameter as a local day of the usage time zone (date-times converted)."""
    if isinstance(value, datetime):
        zone = usage_time_zone()
        aware = value if timezone.is_aware(value) else value.replace(tzinfo=zone)
        return aware.astimezone(zone).date()
    return value


# What the two per-range endpoints share: their query, its defaults and their answer's frame.
RANGE_DEFAULT_DAYS = 30
RANGE_PARAMETERS = [
    OpenApiParameter("from", str, description="ISO date"),
    OpenApiParameter("to", str, description="ISO date (inclusive)"),
]


def _range_schema(rows_name: str, row_properties: dict[str, Any]) -> dict[str, Any]:
    """The answer of a per-range endpoint: its local days, the zone, and one list of rows."""
    return {
        "type": "object",
        "properties": {
            "from": {"type": "string", "format": "date"},
            "to": {"type": "string", "format": "date"},
            "time_zone": {"type": "string"},
            rows_name: {
                "type": "array",
                "items": {"type": "object", "properties": row_properties},
            },
        },
    }


def _requested_days(request: AuthenticatedRequest) -> tuple[date, date]:
    """`from`/`to` as local days; default the last RANGE_DEFAULT_DAYS days up to today."""
    params = validated(RangeSerializer(data=request.query_params))
    last = _local_day(params.get("to")) or local_today()
    first = _local_day(params.get("from")) or last - timedelta(days=RANGE_DEFAULT_DAYS - 1)
    return first, last


class UsageDailyApi(AccountApi):
    """GET /api/v1/account/usage/daily: per-day totals for charts."""

    @extend_schema(
        tags=["account"],
        summary="Usage per day",
        description="Credits used (captured) and added, jobs succeeded and failed, per day "
        "(days in `time_zone`). Default: the last 30 days; at most 366.",
        parameters=RANGE_PARAMETERS,
        responses={
            200: ok(
                _range_schema(
                    "days",
                    {
                        "date": {"type": "string", "format": "date"},
                        "credits_used": {"type": "integer"},
                        "credits_added": {"type": "integer"},
                        "jobs_succeeded": {"type": "integer"},
                        "jobs_failed": {"type": "integer"},
                    },
                )
            ),
            401: ENVELOPE_ERROR,
            422: ENVELOPE_ERROR,
        },
        operation_id="account_usage_daily",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        first, last = _requested_days(request)
        try:
            days = usage_daily(user=request.user, first=first, last=last)
        except UsageQueryInvalid as exc:
            raise Unprocessable(str(exc)) from exc
        return envelope(
            {
                "from": first.isoformat(),
                "to": last.isoformat(),
                "time_zone": settings.TIME_ZONE,
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


class UsageByKeyApi(AccountApi):
    """GET /api/v1/account/usage/keys: per-key totals (spend per key)."""

    @extend_schema(
        tags=["account"],
        summary="Usage per API key",
        description="Per key: jobs submitted and credits charged between `from` and `to` "
        "(local days in `time_zone`; default the last 30 days), and the key's budget and "
        "what is counted on it this period. `api_key_id` null: jobs from the dashboard.",
        parameters=RANGE_PARAMETERS,
        responses={
            200: ok(
                _range_schema(
                    "keys",
                    {
                        "api_key_id": {"type": "integer", "nullable": True},
                        "name": {"type": "string", "nullable": True},
                        "prefix": {"type": "string", "nullable": True},
                        "jobs": {"type": "integer"},
                        "credits_charged": {"type": "integer"},
                        "budget_credits": {"type": "integer", "nullable": True},
                        "budget_period": {"type": "string", "nullable": True},
                        "budget_used": {"type": "integer", "nullable": True},
                    },
                )
            ),
            401: ENVELOPE_ERROR,
            422: ENVELOPE_ERROR,
        },
        operation_id="account_usage_keys",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        first, last = _requested_days(request)
        if first > last:
            raise Unprocessable("from: must not be after to")
        totals = {
            t.api_key_id: t
            for t in usage_by_key(
                user=request.user,
                start=local_day_start(first),
                end=local_day_start(last + timedelta(days=1)),
            )
        }
        keys = list(api_key_list(user=request.user))
        used = key_budgets_used(api_keys=keys)
        rows = []
        for key in keys:
            total = totals.pop(key.pk, None)
            if total is None and key.revoked_at is not None:
                continue
            rows.append(
                {
                    "api_key_id": key.pk,
                    "name": key.name,
                    "prefix": key.prefix,
                    "jobs": total.jobs if total else 0,
                    "credits_charged": total.credits_charged if total else 0,
                    "budget_credits": key.budget_credits,
                    "budget_period": key.budget_period if key.budget_credits else None,
                    "budget_used": used[key.pk] if key.budget_credits else None,
                }
            )
        dashboard = totals.pop(None, None)
        if dashboard is not None:
            rows.append(
                {
                    "api_key_id": None,
                    "name": None,
                    "prefix": None,
                    "jobs": dashboard.jobs,
                    "credits_charged": dashboard.credits_charged,
                    "budget_credits": None,
                    "budget_period": None,
                    "budget_used": None,
                }
            )
        return envelope(
            {
                "from": first.isoformat(),
                "to": last.isoformat(),
                "time_zone": settings.TIME_ZONE,
                "keys": rows,
            }
        )
