"""Storing customer images (uploads and images fetched from customer URLs)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.models import User
from generation import images
from generation.models import Upload
from veosaas.strict import text_clean


def upload_create(
    *,
    user: User,
    source: BinaryIO | bytes | Path,
    file_name: str = "",
    max_bytes: int,
    origin: str = Upload.Source.UPLOAD,
    source_url: str = "",
    keep_seconds: int | None = None,
) -> Upload:
    """Validate an image (format sniffed from bytes, size and pixel caps) and store it.

    Raises images.ImageRejected with a message for the user; nothing is stored then. Unless
    a job uses it, the upload is removed `keep_seconds` later (default
    STORAGE_RETENTION_UPLOADS_SECONDS) by the storage sweep.
    """
    if keep_seconds is None:
        keep_seconds = settings.STORAGE_RETENTION_UPLOADS_SECONDS
    info = images.image_inspect(source, max_bytes=max_bytes)
    upload_id = uuid.uuid4()
    ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[info.format]
    name = f"uploads/{user.pk}/{upload_id}.{ext}"
    if isinstance(source, bytes):
        stored = default_storage.save(name, ContentFile(source))
    elif isinstance(source, Path):
        with source.open("rb") as handle:
            stored = default_storage.save(name, File(handle))
    else:
        source.seek(0)
        stored = default_storage.save(name, File(source))
    try:
        return Upload.objects.create(
            id=upload_id,
            user=user,
            source=origin,
            source_url=text_clean(source_url),
            file=stored,
            # An echoed name only: drop what a text column cannot hold (NUL, lone surrogates).
            file_name=text_clean(file_name or "")[:255],
            mime_type=info.mime_type,
            width=info.width,
            height=info.height,
            size=info.size,
            expires_at=timezone.now() + timedelta(seconds=keep_seconds),
        )
    except BaseException:
        # No row, no file: a failed insert must not leave an orphan in storage.
        default_storage.delete(stored)
        raise


def upload_discard(*, upload: Upload) -> None:
    """Remove an upload made for a request that was then refused (row and file), so a refused
    request leaves nothing behind. Only for an upload created by that same request: no job
    can name it yet."""
    Upload.objects.filter(pk=upload.pk).delete()
    default_storage.delete(upload.file)
