"""Site-wide error pages: API paths answer JSON in their facade's envelope, never HTML."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse


def _api_body(path: str, status: int, message: str) -> dict[str, object] | None:
    if path.startswith("/v1/"):  # the OpenAI-style API's error envelope
        kind = "server_error" if status >= 500 else "invalid_request_error"
        code = "not_found" if status == 404 else None
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}
    if path.startswith("/api/v1/") or path.startswith("/api/file-"):
        return {"code": status, "msg": message, "data": None}
    if path.startswith("/api/"):
        return {"code": 1000 if status < 500 else 5000, "msg": message, "data": None}
    return None


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    body = _api_body(request.path, 404, "Not Found")
    if body is not None:
        return JsonResponse(body, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Exception("not found"))


def server_error(request: HttpRequest) -> HttpResponse:
    body = _api_body(request.path, 500, "Server error")
    if body is not None:
        return JsonResponse(body, status=500)
    from django.views.defaults import server_error as default_server_error

    return default_server_error(request)
