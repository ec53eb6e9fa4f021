"""Plumbing shared by the facades: request parsing helpers that raise one error type.

Each facade turns `FieldError` into its own error envelope; nothing here knows a wire format.
"""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from rest_framework.request import Request


class FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.message = message


def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (DRF has parsed it; ParseError surfaces earlier).

    A form-encoded or multipart body parses into a QueryDict whose values are lists; rather
    than "generationType must be a string", say what is wrong: the body must be JSON."""
    data = request.data
    if isinstance(data, QueryDict) and data:
        raise FieldError("body", "must be JSON (send Content-Type: application/json)")
    if not isinstance(data, dict):
        raise FieldError("body", "must be a JSON object")
    return dict(data)


def optional_str(body: dict[str, Any], field: str, *, max_length: int = 10_000) -> str:
    value = body.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FieldError(field, "must be a string")
    if len(value) > max_length:
        raise FieldError(field, f"must be at most {max_length} characters")
    return value.strip()


def required_str(body: dict[str, Any], field: str, *, max_length: int = 10_000) -> str:
    value = optional_str(body, field, max_length=max_length)
    if not value:
        raise FieldError(field, "is required")
    return value


def optional_str_list(body: dict[str, Any], field: str, *, max_items: int = 3) -> list[str]:
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FieldError(field, "must be an array of strings")
    cleaned = [v.strip() for v in value if v.strip()]
    if len(cleaned) > max_items:
        raise FieldError(field, f"must have at most {max_items} items")
    return cleaned


def optional_int(body: dict[str, Any], field: str) -> int | None:
    value = body.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError(field, "must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise FieldError(field, "must be an integer")


def optional_bool(body: dict[str, Any], field: str, default: bool) -> bool:
    value = body.get(field)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise FieldError(field, "must be true or false")


def idempotency_key(request: Request) -> str | None:
    value = request.headers.get("Idempotency-Key", "").strip()
    if not value:
        return None
    if len(value) > 255:
        raise FieldError("Idempotency-Key", "must be at most 255 characters")
    return value
