"""Top-up REST API: `GET /api/v1/billing/packs`, `POST /api/v1/billing/checkout-sessions`.

Authenticated with `Authorization: Bearer <api key>`. Every answer is the envelope
`{"code": <int>, "msg": <str>, "data": ...}`: code 200 on success; on errors the HTTP status
equals the code (400, 401, 404, 405, 422, 503) and `msg` starts with the field it is about.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from rest_framework import exceptions, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.authentication import BearerApiKeyAuthentication
from billing.errors import PackUnavailable, PaymentsNotConfigured
from billing.models import CreditPack
from billing.selectors import credit_pack_get, credit_packs_active
from billing.stripe_client import StripeUnavailable
from billing.topups import topup_checkout_create

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
