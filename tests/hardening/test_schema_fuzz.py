"""Schemathesis against a live server on the embedded defaults, with a funded key: no answer
is a 5xx and every answer (status, content type, body) conforms to /docs/openapi.json.

Takes minutes, so it runs where asked: `.ci/run` sets VEOSAAS_SCHEMA_FUZZ=1 (the time budget
is VEOSAAS_SCHEMA_FUZZ_SECONDS, 150 by default). Elsewhere it is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.models import ApiKey
from accounts.services import api_key_create
from billing.services import credits_grant
from tests.factories import UserFactory
from tests.processes import running_stack

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = (
    "not_a_server_error,response_schema_conformance,status_code_conformance,"
    "content_type_conformance"
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.environ.get("VEOSAAS_SCHEMA_FUZZ"),
        reason="schema fuzzing runs in .ci/run (VEOSAAS_SCHEMA_FUZZ=1); it takes minutes",
    ),
    pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is not installed"),
]


# Changing or revoking a key is fuzzed with a key of its own, in a second short run: fuzzed in
# the main run, it would soon narrow or revoke the very key the fuzzer sends (it may: it has every
# scope and no limits), and every later request would only test the 401.
KEY_MUTATIONS = ("account_keys_update", "account_keys_revoke")


def schemathesis_run(base_url: str, token: str, budget: int, selection: list[str]) -> str:
    """One bounded schemathesis run with `token`; fails the test with its report on any failure."""
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{base_url}/docs/openapi.json",
            *selection,
            "--header",
            f"Authorization: Bearer {token}",
            "--header",
            f"X-API-Key: {token}",
            "--checks",
            CHECKS,
            "--max-time",
            str(budget),
            "--request-timeout",
            "30",
            "--workers",
            "2",
            "--continue-on-failure",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=budget + 300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return output


def test_the_live_api_never_answers_5xx_and_matches_its_schema(tmp_path) -> None:
    user = UserFactory()
    credits_grant(user=user, amount=10**7, idempotency_key=f"fuzz:{user.pk}")
    fuzz_key = api_key_create(user=user, name="fuzz")
    budget = int(os.environ.get("VEOSAAS_SCHEMA_FUZZ_SECONDS", "150"))
    skip_mutations = [arg for op in KEY_MUTATIONS for arg in ("--exclude-operation-id", op)]
    only_mutations = [arg for op in KEY_MUTATIONS for arg in ("--include-operation-id", op)]
    with running_stack(tmp_path, VEO3O1_DURATION_SECONDS="4") as stack:
        try:
            main = schemathesis_run(stack.base_url, fuzz_key.token, budget * 4 // 5, skip_mutations)
            kept = ApiKey.objects.get(pk=fuzz_key.api_key.pk)
            # The main run kept its key: it tested the API behind authentication, not the 401.
            assert kept.revoked_at is None and kept.limits() == fuzz_key.api_key.limits()
            spare = api_key_create(user=user, name="fuzz keys")
            mutations = schemathesis_run(
                stack.base_url, spare.token, max(budget // 5, 20), only_mutations
            )
        except AssertionError as failure:
            raise AssertionError(
                f"{failure}\n--- web log ---\n{stack.log('web')[-3000:]}"
            ) from None
    (tmp_path / "schemathesis.txt").write_text(main + mutations)
