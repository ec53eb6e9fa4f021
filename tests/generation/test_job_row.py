"""The planned INSERT of a new job (generation/services/job_row.py) writes the row the ORM
writes: the same job inserted both ways reads back equal in every column, on SQLite and (in CI)
PostgreSQL; types the plan passes as they are and types it leaves to Django alike."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.db.models.signals import post_save
from django.utils import timezone

from generation.models import Job
from generation.services.job_row import job_row_insert
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def columns(pk: uuid.UUID) -> dict[str, Any]:
    row = Job.objects.filter(pk=pk).values(*(f.attname for f in Job._meta.concrete_fields))
    values = dict(row.get())
    values.pop("id")
    values.pop("updated_at")  # now, at each save
    return values


def kwargs(**extra: Any) -> dict[str, Any]:
    user = UserFactory()
    now = timezone.now()
    return {
        "user": user,
        "facade": Job.Facade.VEO3API,  # a TextChoices member: Django's own preparation
        "kind": "generate",
        "prompt": "a lantern in the rain, ünïcode ✓",
        "negative_prompt": "",
        "mode": Job.Mode.TEXT,
        "model_tier": "fast",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "duration_seconds": 8,
        "generate_audio": False,
        "seed": 12345,
        "watermark": "veo",
        "image_refs": [{"upload": "x", "role": "first"}],
        "callback_url": "https://example.com/hook",
        "raw_request": {"prompt": "a lantern", "nested": {"n": [1, 2.5, None, True]}},
        "idempotency_key": None,
        "request_fingerprint": "f" * 64,
        "request_id": "req-1",
        "provider": "local",
        "credits_quoted": 60,
        "hold_transfer_id": None,
        "enqueued_at": now,
        "created_at": now - timedelta(seconds=1),
        "upstream_cost_usd": Decimal("0.1234"),
        "output_duration": 8.0,
        "error_details": {},
        **extra,
    }


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"idempotency_key": "idem-1", "hold_transfer_id": 2**40, "eta_seconds": 12},
        {"progress": True, "seed": 0, "error_code": None, "prompt": ""},  # a bool in an int column
    ],
    ids=["plain", "optional values", "odd types"],
)
def test_the_row_is_the_orms_row(extra) -> None:
    values = kwargs(**extra)
    planned = Job(id=uuid.uuid4(), **values)
    job_row_insert(planned)
    by_orm = Job.objects.create(id=uuid.uuid4(), **{**values, "idempotency_key": None})
    mine, theirs = columns(planned.pk), columns(by_orm.pk)
    mine["idempotency_key"] = theirs["idempotency_key"] = None  # unique: one of each
    assert mine == theirs
    assert not planned._state.adding and planned._state.db == "default"
    assert planned.updated_at is not None
    assert Job.objects.get(pk=planned.pk).raw_request == values["raw_request"]


def test_a_unique_violation_is_djangos_integrity_error() -> None:
    values = kwargs(idempotency_key="same")
    job_row_insert(Job(id=uuid.uuid4(), **values))
    with pytest.raises(IntegrityError), transaction.atomic():
        job_row_insert(Job(id=uuid.uuid4(), **values))


def test_no_save_signal_is_connected_for_jobs_else_the_orm_saves() -> None:
    assert not post_save.has_listeners(Job)
    seen: list[Job] = []

    def spy(sender: type[Job], instance: Job, **_: Any) -> None:
        seen.append(instance)

    post_save.connect(spy, sender=Job)
    try:
        job = Job(id=uuid.uuid4(), **kwargs())
        job_row_insert(job)
    finally:
        post_save.disconnect(spy, sender=Job)
    assert seen == [job]  # saved through the ORM, so the receiver ran


def test_a_raw_sql_value_is_computed_by_the_database() -> None:
    from django.db.models.expressions import RawSQL

    job = Job(id=uuid.uuid4(), **kwargs(hold_transfer_id=RawSQL("%s + 1", [41])))
    job_row_insert(job)
    assert Job.objects.get(pk=job.pk).hold_transfer_id == 42
