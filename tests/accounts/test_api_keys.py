"""K1 and K2: keys are shown once, stored hashed, checked without a DB hit when malformed,
and revoked or expired keys are refused with 401."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from accounts import tokens
from accounts.authentication import BearerApiKeyAuthentication, HeaderApiKeyAuthentication
from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke


class WhoAmI(APIView):
    authentication_classes = [BearerApiKeyAuthentication, HeaderApiKeyAuthentication]

    def get(self, request):
        return Response({"email": request.user.email, "key": request.auth.prefix})


view = WhoAmI.as_view()
factory = APIRequestFactory()


def call(**headers: str) -> Response:
    return view(factory.get("/whoami", **headers))


def test_token_has_prefix_and_valid_checksum() -> None:
    token = tokens.generate()
    assert token.startswith("vsk_")
    assert tokens.is_well_formed(token)
    broken = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert not tokens.is_well_formed(broken)


def test_raw_key_is_never_stored(api_key) -> None:
    row = ApiKey.objects.get(pk=api_key.api_key.pk)
    secret_part = api_key.token[len(row.prefix) :]
    for value in (row.prefix, row.digest, row.name):
        assert secret_part not in value
    assert row.digest == tokens.digest(api_key.token)
    assert api_key.token not in repr(row.__dict__)


@pytest.mark.django_db
def test_bearer_and_x_api_key_both_authenticate(api_key) -> None:
    assert call(HTTP_AUTHORIZATION=f"Bearer {api_key.token}").status_code == 200
    response = call(HTTP_X_API_KEY=api_key.token)
    assert response.status_code == 200
    assert response.data["email"] == api_key.api_key.user.email


@pytest.mark.django_db
def test_malformed_key_is_rejected_without_a_database_query(
    django_assert_num_queries,
) -> None:
    token = tokens.generate()
    typo = token[:10] + ("x" if token[10] != "x" else "y") + token[11:]
    with django_assert_num_queries(0):
        response = call(HTTP_AUTHORIZATION=f"Bearer {typo}")
    assert response.status_code == 401


@pytest.mark.django_db
def test_missing_key_answers_401_with_challenge() -> None:
    response = call()
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.django_db
def test_unknown_well_formed_key_is_401() -> None:
    assert call(HTTP_AUTHORIZATION=f"Bearer {tokens.generate()}").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["revoked", "expired", "inactive_user"])
def test_unusable_keys_are_401(api_key, state: str) -> None:
    row = api_key.api_key
    if state == "revoked":
        api_key_revoke(api_key=row)
    elif state == "expired":
        ApiKey.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        row.user.is_active = False
        row.user.save()
    assert call(HTTP_AUTHORIZATION=f"Bearer {api_key.token}").status_code == 401
    assert call(HTTP_X_API_KEY=api_key.token).status_code == 401


@pytest.mark.django_db
def test_key_with_future_expiry_works(user) -> None:
    created = api_key_create(user=user, expires_at=timezone.now() + timedelta(days=1))
    assert call(HTTP_AUTHORIZATION=f"Bearer {created.token}").status_code == 200


@pytest.mark.django_db
def test_last_used_is_written_at_most_once_a_minute(api_key, time_machine) -> None:
    time_machine.move_to("2026-01-01 12:00:00+00:00", tick=False)
    call(HTTP_AUTHORIZATION=f"Bearer {api_key.token}")
    first = ApiKey.objects.get(pk=api_key.api_key.pk).last_used_at
    assert first is not None
    time_machine.move_to("2026-01-01 12:00:30+00:00", tick=False)
    call(HTTP_AUTHORIZATION=f"Bearer {api_key.token}")
    assert ApiKey.objects.get(pk=api_key.api_key.pk).last_used_at == first
    time_machine.move_to("2026-01-01 12:01:05+00:00", tick=False)
    call(HTTP_AUTHORIZATION=f"Bearer {api_key.token}")
    assert ApiKey.objects.get(pk=api_key.api_key.pk).last_used_at > first


@pytest.mark.django_db
def test_revoke_is_idempotent(api_key) -> None:
    first = api_key_revoke(api_key=api_key.api_key).revoked_at
    assert api_key_revoke(api_key=api_key.api_key).revoked_at == first


@pytest.mark.django_db
def test_key_in_query_string_is_not_accepted(api_key) -> None:
    response = view(factory.get(f"/whoami?api_key={api_key.token}"))
    assert response.status_code == 401


@pytest.mark.django_db
def test_cached_key_is_refused_at_once_after_revocation(api_key) -> None:
    assert call(HTTP_AUTHORIZATION=f"Bearer {api_key.token}").status_code == 200  # now cached
    api_key_revoke(api_key=ApiKey.objects.get(pk=api_key.api_key.pk))
    assert call(HTTP_AUTHORIZATION=f"Bearer {api_key.token}").status_code == 401


@pytest.mark.django_db
def test_cached_key_is_refused_at_once_after_the_user_is_deactivated(api_key) -> None:
    assert call(HTTP_X_API_KEY=api_key.token).status_code == 200
    user = api_key.api_key.user
    user.is_active = False
    user.save()
    assert call(HTTP_X_API_KEY=api_key.token).status_code == 401


@pytest.mark.django_db
def test_cached_authentication_needs_no_key_query(api_key, django_assert_num_queries) -> None:
    call(HTTP_AUTHORIZATION=f"Bearer {api_key.token}")
    with django_assert_num_queries(0):
        assert call(HTTP_AUTHORIZATION=f"Bearer {api_key.token}").status_code == 200
