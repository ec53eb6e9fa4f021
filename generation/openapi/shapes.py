"""Schema-building helpers and the `Operation` record the operation tables are made of."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

Schema = dict[str, Any]

TAG_VEO3O1 = "veo3o1"
TAG_VEO3API = "veo3api.ai / kie.ai"
TAG_CODEFAST = "codefast"
TAG_BILLING = "billing"


def obj(
    properties: dict[str, Schema], required: tuple[str, ...] = (), description: str = ""
) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def string(description: str = "", **extra: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def integer(description: str = "", **extra: Any) -> Schema:
    return {"type": "integer", **({"description": description} if description else {}), **extra}


def nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


STRINGS: Schema = {"type": "array", "items": {"type": "string"}}
ANY: Schema = {}


def envelope(data: Schema, *, success_code: int, description: str = "") -> Schema:
    """`{code, msg, data}` (veo3o1 succeeds with code 0, veo3api/kie with code 200)."""
    return obj(
        {
            "code": integer(f"{success_code} on success; an error code otherwise."),
            "msg": string(),
            "data": data,
        },
        ("code", "msg", "data"),
        description,
    )


@dataclass(frozen=True)
class Operation:
    tag: str
    summary: str
    description: str = ""
    request: dict[str, Schema] | None = None  # media type -> schema
    responses: dict[int, OpenApiResponse] = field(default_factory=dict)
    parameters: tuple[OpenApiParameter, ...] = ()
    operation_id: str = ""


def ok(schema: Schema, description: str = "", example: Any = None) -> OpenApiResponse:
    examples = [OpenApiExample("example", value=example, response_only=True)] if example else []
    return OpenApiResponse(response=schema, description=description, examples=examples)
