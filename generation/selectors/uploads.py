"""Reads of the account's uploaded images."""

from __future__ import annotations

import uuid

from accounts.models import User
from generation.models import Job, Upload


def upload_get_by_key(*, user: User, key: str) -> Upload | None:
    """An upload of this user by its public key (`img_<hex>`) or its id."""
    raw = key.removeprefix("img_")
    try:
        pk = uuid.UUID(raw)
    except ValueError:
        return None
    return Upload.objects.filter(pk=pk, user=user).first()


def uploads_for_job(*, job: Job) -> list[Upload]:
    """The job's uploaded input images, in the job's order (URL inputs are not included)."""
    ids = [ref["upload"] for ref in job.image_refs if "upload" in ref]
    found = {str(u.pk): u for u in Upload.objects.filter(user_id=job.user_id, pk__in=ids)}
    return [found[i] for i in ids if i in found]
