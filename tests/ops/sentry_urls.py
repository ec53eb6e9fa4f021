"""URLs for the Sentry test only: the real ones plus a view that fails with a prompt in hand."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from veosaas.urls import urlpatterns as real_urlpatterns


class RenderCrashed(Exception):
    pass


@csrf_exempt
def crash(request: HttpRequest) -> HttpResponse:
    body = json.loads(request.body)
    prompt = body["prompt"]
    raise RenderCrashed(f"failed after {len(prompt)} characters")


urlpatterns = [path("crash", crash), *real_urlpatterns]
