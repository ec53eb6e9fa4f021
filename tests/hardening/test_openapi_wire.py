"""The OpenAPI schema documents what the wire sends: every status a bad request gets (from the
bad-input table) is listed for its operation, and the veo3api errors are documented with
their real HTTP statuses. (`test_schema_fuzz.py` checks the same against a live server.)"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.hardening.test_bad_input import CASES, FACADES, _headers

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        return Client().get("/docs/openapi.json").json()


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("facade", list(FACADES))
def test_every_bad_input_status_is_documented(schema, account, facade, case) -> None:
    _, token = account
    path, auth, base, _ = FACADES[facade]
    body, content_type = CASES[case](facade, base)
    response = Client(raise_request_exception=False).generic(
        "POST", path, data=body, content_type=content_type, **_headers(auth, token)
    )
    documented = schema["paths"][path]["post"]["responses"]
    assert str(response.status_code) in documented, (response.status_code, sorted(documented))


def test_veo3api_operations_document_their_error_statuses(schema) -> None:
    for path, item in schema["paths"].items():
        if not path.startswith("/api/v1/veo/"):
            continue
        for operation in item.values():
            assert {"400", "401", "422", "429", "503"} <= set(operation["responses"]), path
            assert "HTTP status" in operation["description"]


def test_submits_document_bodies_too_large_and_dependencies_down(schema) -> None:
    for path in ("/api/generate-video", "/api/v1/veo/generate", "/generate"):
        assert {"400", "413", "429", "503"} <= set(schema["paths"][path]["post"]["responses"])
    assert (
        schema["paths"]["/api/generate-video"]["post"]["requestBody"]["content"][
            "application/json"
        ]["schema"]["properties"]["prompt"]["minLength"]
        == 1
    )
