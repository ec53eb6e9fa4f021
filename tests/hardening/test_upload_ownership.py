"""An upload of ours named by its URL gets the same ownership check as one named by key:
another account's upload answers like an unknown image, and nothing is held."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.services import api_key_create
from billing.models import Transfer
from billing.services import credits_grant
from generation.delivery import upload_url
from generation.models import Job
from generation.services import upload_create
from tests.factories import UserFactory
from tests.generation.conftest import image_bytes

pytestmark = pytest.mark.django_db


def _funded() -> tuple[Any, dict[str, str]]:
    user = UserFactory()
    credits_grant(user=user, amount=1000, idempotency_key=f"own:{user.pk}")
    token = api_key_create(user=user, name="own").token
    return user, {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_another_accounts_upload_url_is_refused_on_every_facade() -> None:
    owner, _ = _funded()
    other, headers = _funded()
    theirs = upload_url(upload_create(user=owner, source=image_bytes(), max_bytes=10**7))
    client = Client(raise_request_exception=False)
    transfers = Transfer.objects.count()

    kie = client.post(
        "/api/v1/veo/generate",
        {"prompt": "x", "imageUrls": [theirs], "generationType": "FIRST_AND_LAST_FRAMES_2_VIDEO"},
        content_type="application/json",
        **headers,
    ).json()
    assert kie["code"] == 422 and "imageUrls[0]" in kie["msg"], kie

    veo = client.post(
        "/api/generate-video",
        {"generationType": "image_to_video", "prompt": "x", "imageUrl": theirs},
        content_type="application/json",
        **headers,
    )
    assert veo.status_code == 400 and "does not name an image you uploaded" in veo.json()["msg"]
    assert not Job.objects.filter(user=other).exists()
    assert Transfer.objects.count() == transfers

    mine = upload_url(upload_create(user=other, source=image_bytes(), max_bytes=10**7))
    ok = client.post(
        "/api/generate-video",
        {"generationType": "image_to_video", "prompt": "x", "imageUrl": mine},
        content_type="application/json",
        **headers,
    )
    assert ok.json()["code"] == 0, ok.json()
