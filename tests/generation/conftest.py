from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from rest_framework.test import APIClient

from accounts.services import api_key_create
from billing.services import credits_grant
from tests.factories import UserFactory


@pytest.fixture
def funded_user(db: None) -> Any:
    user = UserFactory()
    credits_grant(user=user, amount=1000, idempotency_key=f"seed:{user.pk}")
    return user


@pytest.fixture
def bearer(funded_user: Any) -> APIClient:
    client = APIClient()
    token = api_key_create(user=funded_user, name="t").token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.user = funded_user
    client.token = token
    return client


def image_bytes(
    fmt: str = "PNG",
    size: tuple[int, int] = (320, 180),
    color: tuple[int, int, int] = (200, 60, 30),
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def enqueued(callbacks: list[Any]) -> list[Any]:
    """The on-commit callbacks that send a Celery task (the others publish status snapshots):
    `veosaas.celery.enqueue_on_commit` wraps them as the task's `apply_async`."""
    return [
        c
        for c in callbacks
        if "apply_async"
        in (
            getattr(getattr(c, "func", None), "__name__", ""),
            getattr(getattr(c, "__wrapped__", None), "__name__", ""),
        )
    ]
