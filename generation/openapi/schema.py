"""`FacadeAutoSchema` (the project's DEFAULT_SCHEMA_CLASS) reading the `OPERATIONS` table,
the API-key security schemes, and `postprocess_schema`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from generation.openapi.codefast import BILLING_OPERATIONS, CODEFAST_OPERATIONS
from generation.openapi.events import document_event_streams
from generation.openapi.openai import OPENAI_OPERATIONS, content_binary
from generation.openapi.shapes import (
    TAG_CODEFAST,
    Operation,
    Schema,
    obj,
    string,
)
from generation.openapi.veo import VEO3API_OPERATIONS, VEO3O1_OPERATIONS

OPERATIONS: dict[tuple[str, str, str], Operation] = {
    **{
        ("dashboard.apis.topups", cls, method): op
        for (cls, method), op in BILLING_OPERATIONS.items()
    },
    **{
        ("generation.facades.veo3o1", cls, method): op
        for (cls, method), op in VEO3O1_OPERATIONS.items()
    },
    **{
        ("generation.facades.veo3api", cls, method): op
        for (cls, method), op in VEO3API_OPERATIONS.items()
        if not cls.startswith("File")
    },
    **{
        ("generation.facades.kie_uploads", cls, method): op
        for (cls, method), op in VEO3API_OPERATIONS.items()
        if cls.startswith("File")
    },
    **{
        ("generation.facades.codefast", cls, method): op
        for (cls, method), op in CODEFAST_OPERATIONS.items()
    },
    **{
        ("generation.facades.openai_videos.views", cls, method): op
        for (cls, method), op in OPENAI_OPERATIONS.items()
    },
}


class FacadeAutoSchema(AutoSchema):
    """Describes the views listed in `OPERATIONS`; any other view gets spectacular's defaults
    (so a new APIView without a description shows up as a schema warning in the tests)."""

    def _operation(self) -> Operation | None:
        view = type(self.view)
        return OPERATIONS.get((view.__module__, view.__name__, self.method))

    def get_request_serializer(self) -> Any:
        op = self._operation()
        if op is not None:
            return op.request
        return super().get_request_serializer()

    def get_response_serializers(self) -> Any:
        op = self._operation()
        if op is not None:
            return op.responses or None
        return super().get_response_serializers()

    def get_override_parameters(self) -> list[Any]:
        op = self._operation()
        return [*super().get_override_parameters(), *(op.parameters if op else ())]

    def get_tags(self) -> list[str]:
        op = self._operation()
        return [op.tag] if op else super().get_tags()

    def get_summary(self) -> str | None:
        op = self._operation()
        return op.summary if op else super().get_summary()

    # drf-spectacular's own AutoSchema.get_description carries the same ignore (DRF's stub
    # has the older (path, method) signature).
    def get_description(self) -> str:  # type: ignore[override]
        op = self._operation()
        return op.description if op else super().get_description()

    def get_operation_id(self) -> str:
        op = self._operation()
        if op is not None and op.operation_id:
            return op.operation_id
        return super().get_operation_id()


class BearerApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerApiKeyAuthentication"
    name = "bearerApiKey"

    def get_security_definition(self, auto_schema: AutoSchema) -> Schema:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer <API key>` (veo3o1, veo3api/kie, "
            "OpenAI-style /v1/videos, billing). Create keys in the dashboard.",
        }


class HeaderApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.HeaderApiKeyAuthentication"
    name = "xApiKey"

    def get_security_definition(self, auto_schema: AutoSchema) -> Schema:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "`X-API-Key: <API key>` (codefast).",
        }


def postprocess_schema(
    result: Schema,
    generator: Any,
    request: HttpRequest | None = None,
    public: bool = True,
    **kwargs: Any,
) -> Schema:
    """Add codefast's `GET /` (a plain view that hands keyed requests to its APIView), the live
    status streams (async views) and this server's base URL as the server."""
    result.setdefault("paths", {})["/"] = {
        "get": {
            "operationId": "codefast_key_check",
            "summary": "Check an API key",
            "description": 'Answers exactly {"message": "Veo 3 Fast Video Generator API '
            'running"}. Browsers without a key are redirected to /dashboard/.',
            "tags": [TAG_CODEFAST],
            "security": [{"xApiKey": []}],
            "responses": {
                "200": {
                    "description": "",
                    "content": {
                        "application/json": {"schema": obj({"message": string()}, ("message",))}
                    },
                },
                "401": {
                    "description": "",
                    "content": {
                        "application/json": {"schema": obj({"detail": string()}, ("detail",))}
                    },
                },
            },
        }
    }
    base = settings.PUBLIC_BASE_URL or (
        request.build_absolute_uri("/").rstrip("/") if request is not None else ""
    )
    if base:
        result["servers"] = [{"url": base}]
    document_event_streams(result)
    _document_edge_answers(result)
    content_binary(result)
    return result


def _document_edge_answers(result: Schema) -> None:
    """What every operation can answer besides its own table, so the schema matches the wire
    (schemathesis checks it in CI): a body that is not acceptable JSON, too large or of another
    media type (400, 413, 415; veosaas/strict.py), and 503 where a 429 is possible (limits
    that cannot be checked fail closed). Each reuses the operation's own error envelope."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if not responses:
                continue
            errors = [responses[code] for code in sorted(responses) if code.startswith("4")]
            if not errors:
                continue
            if "requestBody" in operation:
                for code in ("400", "413", "415"):
                    responses.setdefault(code, errors[0])
            if "429" in responses:
                responses.setdefault("503", responses["429"])
    usage = result.get("paths", {}).get("/api/v1/account/usage", {}).get("get")
    if usage and "200" in usage.get("responses", {}):
        content = usage["responses"]["200"].setdefault("content", {})
        content["text/csv"] = {"schema": {"type": "string", "description": "format=csv"}}
