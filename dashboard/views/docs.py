"""API documentation pages: /docs/ and one page per facade (the schema viewers are routed in
dashboard/urls.py)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing import catalog
from billing.services import PriceLine, price_table
from generation.selectors.models import models_published
from veosaas.http import public_base_url

FACADES = ("veo3o1", "veo3api", "codefast", "openai")


@require_GET
def docs_index(request: HttpRequest) -> HttpResponse:
    return render(request, "docs/index.html", {"base_url": public_base_url(request)})


@require_GET
def docs_facade(request: HttpRequest, facade: str) -> HttpResponse:
    if facade not in FACADES:
        raise Http404("no such API")
    return render(
        request,
        f"docs/{facade}.html",
        {
            "base_url": public_base_url(request),
            "facade": facade,
            "veo3o1_duration": settings.VEO3O1_DURATION_SECONDS,
            "veo3o1_resolution": settings.VEO3O1_RESOLUTION,
            "veo3o1_model": settings.VEO3O1_MODEL_TIER,
            "codefast_model": settings.CODEFAST_MODEL_TIER,
            "codefast_resolution": settings.CODEFAST_RESOLUTION,
            "codefast_time_zone": settings.CODEFAST_TIME_ZONE,
        },
    )


@require_GET
def docs_prices(request: HttpRequest) -> HttpResponse:
    """Every price in credits, from the same table every submit charges (price_quote), and
    the model catalog with its prices as `GET /api/v1/models` publishes it."""
    sold = [
        line
        for line in price_table(durations=catalog.DURATIONS)
        if line.operation in catalog.Operation.values and line.model_tier in catalog.TIERS
    ]

    def rows(lines: list[PriceLine]) -> list[dict[str, object]]:
        return [
            {
                "line": line,
                "operation": catalog.Operation(line.operation).label,
                "model": catalog.Tier(line.model_tier).label,
            }
            for line in lines
        ]

    return render(
        request,
        "docs/prices.html",
        {
            "durations": catalog.DURATIONS,
            "per_second": rows([line for line in sold if line.credits_per_second]),
            "flat": rows([line for line in sold if not line.credits_per_second]),
            "signup_grant": settings.BILLING_SIGNUP_GRANT_CREDITS,
            "auto_1080p": settings.GENERATION_AUTO_1080P,
            "catalog": models_published(),
        },
    )
