"""What the customer account APIs share: API-key authentication, our envelope, JSON only,
422 for bad input with `msg` naming the field, date ranges and the schema pieces."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from accounts.authentication import BearerApiKeyAuthentication, KeyScopePermission
from veosaas.api import EnvelopeApi, first_error


class CustomerApi(EnvelopeApi):
    """Authenticated with `Authorization: Bearer <api key>`; answers in our envelope. The key
    needs the view's scope (`key_scope`; else `read` for GET, `generate` otherwise)."""

    authentication_classes = [BearerApiKeyAuthentication]
    permission_classes = [IsAuthenticated, KeyScopePermission]


class Unprocessable(exceptions.APIException):
    status_code = 422
    default_detail = "body: invalid input"


def validated(serializer: serializers.Serializer) -> dict[str, Any]:
    if not serializer.is_valid():
        raise Unprocessable(first_error(serializer.errors))
    return dict(serializer.validated_data)


def instant(value: datetime | None) -> str | None:
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


class RangeSerializer(serializers.Serializer):
    to = DateOrDateTimeField(required=False)

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword, so it cannot be declared as a class attribute.
        return {"from": DateOrDateTimeField(required=False), **super().get_fields()}


class AccountApi(CustomerApi):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # `?format=csv` is the usage endpoint's own parameter, not DRF's renderer switch (which
        # would answer 404 for a format without a renderer): always JSON envelopes here.
        renderer = JSONRenderer()
        return renderer, renderer.media_type


ENVELOPE_ERROR = OpenApiResponse(
    response={
        "type": "object",
        "properties": {"code": {"type": "integer"}, "msg": {"type": "string"}, "data": {}},
    },
    description="The HTTP status equals `code`; `msg` starts with the field it is about.",
)


def ok(data: dict[str, Any], description: str = "") -> OpenApiResponse:
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
