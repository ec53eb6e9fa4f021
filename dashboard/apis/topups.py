"""Top-up REST API: `GET /api/v1/billing/packs`, `POST /api/v1/billing/checkout-sessions`.

Authenticated with `Authorization: Bearer <api key>`. Every answer is the envelope
`{"code": <int>, "msg": <str>, "data": ...}`: code 200 on success; on errors the HTTP status
equals the code (400, 401, 404, 405, 422, 503) and `msg` starts with the field it is about.
"""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.response import Response

from accounts.typing import AuthenticatedRequest
from billing.errors import PackUnavailable, PaymentsNotConfigured
from billing.models import CreditPack
from billing.selectors import credit_pack_get, credit_packs_active
from billing.services import topup_checkout_create
from billing.stripe_client import StripeUnavailable
from dashboard.apis.base import CustomerApi
from veosaas.api import envelope
from veosaas.http import public_base_url

BIGINT_MAX = 2**63 - 1


class CreditPackListApi(CustomerApi):
    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = CreditPack
            fields = ("id", "name", "credits", "price", "currency")

    def get(self, request: AuthenticatedRequest) -> Response:
        packs = credit_packs_active()
        return envelope(self.OutputSerializer(packs, many=True).data)


class CheckoutSessionCreateApi(CustomerApi):
    key_scope = "manage"  # spends the account's money

    class InputSerializer(serializers.Serializer):
        pack = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)

    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pack = credit_pack_get(pack_id=serializer.validated_data["pack"])
        if pack is None:
            return envelope(None, code=404, msg="pack: no credit pack with this id")
        try:
            start = topup_checkout_create(
                user=request.user,
                pack=pack,
                base_url=public_base_url(request),
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
