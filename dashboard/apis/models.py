"""`GET /api/v1/models`: the models behind our tiers, their capabilities and prices. Public.

Answers in our envelope; `data.models[]` lists, per tier, the provider and upstream model that
run it now, what it accepts (modes, durations, resolutions, aspect ratios, audio, person
generation, reference images, which combinations need the longest duration) and its prices in
credits (generation, with and without audio, and extension). Submit on every facade validates
against the same catalog.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard.apis.base import ok
from generation.selectors.models import models_published
from veosaas.api import EnvelopeApi, envelope


class ModelListApi(EnvelopeApi):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["models"],
        summary="Models, capabilities and prices",
        description="Per tier: the provider and upstream model running it now, what it accepts "
        "(submit validates against the same catalog) and its prices in credits. No "
        "authentication.",
        auth=[],
        responses={
            200: ok(
                {
                    "type": "object",
                    "properties": {
                        "checked_on": {"type": "string", "format": "date"},
                        "models": {"type": "array", "items": {"type": "object"}},
                    },
                }
            )
        },
    )
    def get(self, request: Request) -> Response:
        return envelope(models_published())
