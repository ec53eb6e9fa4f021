"""Our own API envelope, `{"code": <int>, "msg": <str>, "data": ...}`, and its exception handler.

On success `code` is 200; on errors the HTTP status equals `code` and `msg` starts with the
field it is about (`pack: ...`, `authorization: ...`, `body: ...`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from veosaas.strict import FieldError, request_error_translate


def envelope(data: Any, *, code: int = 200, msg: str = "success") -> Response:
    """A response in our envelope; its HTTP status is `code`."""
    return Response({"code": code, "msg": msg, "data": data}, status=code)


def first_error(detail: Any, field: str = "body") -> str:
    """`field: message` of the first error in a DRF error structure."""
    if isinstance(detail, dict) and detail:
        name, value = next(iter(detail.items()))
        return first_error(value, "body" if name == "non_field_errors" else str(name))
    if isinstance(detail, list) and detail:
        return first_error(detail[0], field)
    return f"{field}: {detail}"


def envelope_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status, WWW-Authenticate), with the body rewritten as our envelope.

    Strict-parser refusals (veosaas/strict.py) and Django's request limits answer 4xx here too.
    """
    exc = request_error_translate(exc)
    if isinstance(exc, FieldError):
        exc = exceptions.ValidationError({exc.field: [exc.message]})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        msg = f"authorization: {exc.detail}"
    elif isinstance(exc, exceptions.ValidationError):
        msg = first_error(exc.detail)
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
    """An APIView whose errors answer in our envelope. Subclasses name their authentication
    (this module sits below the apps, so it knows no API key); a login is required."""

    permission_classes = [IsAuthenticated]

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response | None]:
        return envelope_exception_handler
