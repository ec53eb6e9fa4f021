"""`GET /api/v1/models`: the models behind our tiers, their capabilities and prices. Public.

Answers in our envelope; `data.models[]` lists, per tier, the provider and upstream model that
run it now, what it accepts (modes, durations, resolutions, aspect ratios, audio, reference
images, which combinations need the longest duration) and its prices in credits. Submit on
every facade validates against the same catalog.
"""

from __future__ import annotations

from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from generation.selectors.models import models_published
from veosaas.api import EnvelopeApi, envelope


class ModelListApi(EnvelopeApi):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return envelope(models_published())
