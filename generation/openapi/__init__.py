"""The OpenAPI description of the three facades (and the top-up API), for drf-spectacular.

The facade APIViews parse their bodies by hand (each vendor's exact quirks), so there are no
serializers to introspect. Rather than decorate every view in the facade modules, this module
holds one table, `OPERATIONS`, keyed by view module, class and method, and `FacadeAutoSchema`
(the project's DEFAULT_SCHEMA_CLASS) reads it. `postprocess_schema` adds `GET /` (codefast's
key check is a plain Django view) and this server's base URL. Contracts: shared contracts/.
"""

from __future__ import annotations

from generation.openapi.schema import (
    OPERATIONS,
    BearerApiKeyScheme,
    FacadeAutoSchema,
    HeaderApiKeyScheme,
    postprocess_schema,
)

__all__ = [
    "OPERATIONS",
    "BearerApiKeyScheme",
    "FacadeAutoSchema",
    "HeaderApiKeyScheme",
    "postprocess_schema",
]
