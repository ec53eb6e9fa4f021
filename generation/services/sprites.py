"""Sprite sheets: a JPEG grid of frames taken evenly through a finished video (the
`spritesheet` variant of `/v1/videos/{id}/content`).

Made with PyAV (decoding) and Pillow (the grid) on the first request and stored once beside
the video as `videos/sprites/<job id>.jpg`; later requests serve the stored file. The name is
derived from the job, so the storage lifecycle (services/storage.py) removes it with the
video and the orphan pass keeps it exactly while the video is kept.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from pathlib import Path

import av
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from PIL import Image

from generation import media
from generation.models import Job

logger = logging.getLogger(__name__)

SPRITE_FRAMES = 10
SPRITE_COLUMNS = 5
SPRITE_TILE_WIDTH = 256
SPRITES_ROOT = "videos/sprites"


class SpritesheetUnavailable(Exception):
    """The video has no stored file or cannot be decoded."""


def spritesheet_name(job_id: uuid.UUID) -> str:
    return f"{SPRITES_ROOT}/{job_id}.jpg"


def _frames(path: Path, count: int) -> list[Image.Image]:
    """`count` frames at evenly spaced times (the middle of each equal slice), decoded once
    front to back."""
    picked: list[Image.Image] = []
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise SpritesheetUnavailable("the file has no video stream")
        stream = container.streams.video[0]
        duration = media.duration_seconds(container, stream) or 1.0
        targets = [duration * (index + 0.5) / count for index in range(count)]
        last = None
        for frame in container.decode(stream):
            last = frame
            while targets and (frame.time is None or frame.time >= targets[0]):
                targets.pop(0)
                picked.append(frame.to_image(src_colorspace=media.assumed_matrix(frame)))
            if not targets:
                break
        while targets and last is not None:
            targets.pop(0)
            picked.append(last.to_image(src_colorspace=media.assumed_matrix(last)))
    if not picked:
        raise SpritesheetUnavailable("the video has no decodable frame")
    return picked


def _grid(frames: list[Image.Image]) -> Image.Image:
    width = SPRITE_TILE_WIDTH
    height = max(1, round(frames[0].height * width / frames[0].width))
    columns = min(SPRITE_COLUMNS, len(frames))
    rows = -(-len(frames) // columns)
    sheet = Image.new("RGB", (columns * width, rows * height))
    for index, frame in enumerate(frames):
        tile = frame.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
        sheet.paste(tile, ((index % columns) * width, (index // columns) * height))
    return sheet


def job_spritesheet(*, job: Job) -> str:
    """Storage name of the sprite sheet of a succeeded job's video, made on first use.

    Concurrent first calls may both make it; one copy is kept. Raises SpritesheetUnavailable
    when the job has no stored video or it cannot be decoded."""
    if job.state != Job.State.SUCCEEDED or not job.video_file or job.video_deleted_at:
        raise SpritesheetUnavailable("the video is not available")
    name = spritesheet_name(job.id)
    if default_storage.exists(name):
        return name
    work_root = Path(settings.VAR_DIR) / "work"
    work_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{job.id}-sprites-", dir=work_root) as scratch:
        source = Path(scratch) / "video.mp4"
        try:
            with default_storage.open(job.video_file, "rb") as src, source.open("wb") as dst:
                while chunk := src.read(1024 * 1024):
                    dst.write(chunk)
            sheet = _grid(_frames(source, SPRITE_FRAMES))
        except (OSError, av.FFmpegError) as exc:
            raise SpritesheetUnavailable(f"the video cannot be read ({exc})") from exc
        out = Path(scratch) / "sprites.jpg"
        media.jpeg_save(sheet, out)
        with out.open("rb") as handle:
            stored = default_storage.save(name, File(handle))
    if stored != name:  # a concurrent call stored it first; keep that one
        default_storage.delete(stored)
    return name
