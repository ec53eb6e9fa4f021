"""API documentation pages: /docs/ and one page per facade (the schema viewers are routed in
dashboard/urls.py)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from veosaas.http import public_base_url

FACADES = ("veo3o1", "veo3api", "codefast")


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
