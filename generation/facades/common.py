"""Plumbing shared by the facades: request parsing helpers that raise one error type.

Each facade turns `FieldError` into its own error envelope; nothing here knows a wire format.
Strings and integers go through the one strict parser (veosaas/strict.py): no NUL or unpaired
surrogate reaches the database, integers are ASCII digits of bounded length.
"""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from rest_framework.request import Request

from veosaas.strict import FieldError, StrictJSONParser, int_parse, text_check

__all__ = [
    "FieldError",
    "StrictJSONParser",
    "idempotency_key",
    "int_parse",
    "json_object",
    "optional_bool",
    "optional_int",
    "optional_str",
    "optional_str_list",
    "required_str",
    "strict_int",
]


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
    return text_check(field, value).strip()


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
    for index, item in enumerate(value):
        text_check(f"{field}[{index}]", item)
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
    return strict_int(field, value)


def strict_int(field: str, value: Any) -> int:
    """An int, or a string of ASCII digits (optional sign, at most 18 digits); else FieldError."""
    if isinstance(value, bool):
        raise FieldError(field, "must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        parsed = int_parse(value)
        if parsed is not None:
            return parsed
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
    return text_check("Idempotency-Key", value)
