"""Media work the services need, independent of any provider: posters, joining videos and
storing a result's files.

PyAV (FFmpeg) does the decoding and muxing. Providers may use these helpers too; this module
never imports a concrete provider, only the provider interface's error type.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
from av.container import InputContainer
from av.stream import Stream
from av.video.stream import VideoStream
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from generation.providers.base import Completed, ProviderFailed

logger = logging.getLogger(__name__)

# A decoded frame counts as "at" a time within half a frame of 24 fps (Veo's and the local
# renderer's rate).
_HALF_FRAME = 0.5 / 24


class MediaIncompatible(Exception):
    """Videos cannot be joined without re-encoding (different parameters or sound)."""


# ---------------------------------------------------------------------------------------------
# Frames and posters
# ---------------------------------------------------------------------------------------------


def jpeg_save(image: Image.Image, path: Path) -> None:
    """Write `image` as a JPEG (quality 85), replacing `path` atomically."""
    partial = path.with_name(path.name + ".part")
    image.save(partial, format="JPEG", quality=85)
    os.replace(partial, path)


def assumed_matrix(frame: av.VideoFrame) -> str | None:
    """How to read an untagged YUV frame: as players do, BT.709 from 720 lines up, else BT.601.

    None (use the frame's own tag) for tagged or RGB frames.
    """
    if not frame.format.name.startswith("yuv") or frame.colorspace in (1, 4, 5, 6, 7, 9):
        return None
    return "ITU709" if frame.height >= 720 else "ITU601"


def duration_seconds(container: InputContainer, stream: VideoStream) -> float:
    """A video stream's duration: the stream's own, else the container's, else 0."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def video_probe(path: Path) -> tuple[int, int, float]:
    """Width, height and duration (seconds) of a video file; ValueError says what is wrong
    ("has no video stream", "is not a readable MP4 (...)")."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError("has no video stream")
            stream = container.streams.video[0]
            width, height = int(stream.codec_context.width), int(stream.codec_context.height)
            if container.duration is not None:
                duration = float(container.duration) / av.time_base
            elif stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = 0.0
    except av.FFmpegError as exc:
        raise ValueError(f"is not a readable MP4 ({exc})") from exc
    return width, height, duration


def frame_at(container: InputContainer, stream: VideoStream, target: float) -> av.VideoFrame | None:
    """The first decoded frame at or after `target` seconds, else the last one decoded."""
    last = None
    for frame in container.decode(stream):
        last = frame
        if frame.time is None or frame.time >= target - _HALF_FRAME:
            break
    return last


def make_poster(video_path: Path, out_path: Path, *, at_fraction: float = 0.5) -> Path:
    """Write a JPEG of the frame at `at_fraction` of the video's duration (default: middle).

    Works on any file PyAV can decode. Overwrites `out_path` atomically. Raises
    `ProviderFailed` when the file has no decodable video frame.
    """
    video_path, out_path = Path(video_path), Path(out_path)
    try:
        with av.open(str(video_path)) as container:
            if not container.streams.video:
                raise ProviderFailed(f"{video_path.name} has no video stream.")
            stream = container.streams.video[0]
            duration = duration_seconds(container, stream)
            target = duration * min(max(at_fraction, 0.0), 1.0)
            frame = None
            if target > 0 and stream.time_base:
                # Seek to the keyframe before `target`, then decode up to it.
                with contextlib.suppress(av.FFmpegError):
                    container.seek(int(target / stream.time_base), stream=stream, backward=True)
                frame = frame_at(container, stream, target)
            if frame is None:
                container.seek(0)
                frame = frame_at(container, stream, 0.0)
    except av.FFmpegError as exc:
        raise ProviderFailed(f"Could not read a frame of {video_path.name}: {exc}") from exc
    if frame is None:
        raise ProviderFailed(f"{video_path.name} has no decodable video frame.")
    jpeg_save(frame.to_image(src_colorspace=assumed_matrix(frame)), out_path)
    return out_path


# ---------------------------------------------------------------------------------------------
# Joining
# ---------------------------------------------------------------------------------------------


def concatenate(paths: list[Path], out: Path) -> None:
    """Join MP4 files with identical stream parameters by re-timing their packets.

    No re-encoding: raises MediaIncompatible when the codecs, sizes or presence of sound differ.
    """
    inputs = [av.open(str(path)) for path in paths]
    try:
        first_video = inputs[0].streams.video[0]
        first_audio = inputs[0].streams.audio[0] if inputs[0].streams.audio else None
        for container in inputs[1:]:
            video = container.streams.video[0]
            if (
                video.codec_context.name != first_video.codec_context.name
                or (video.width, video.height) != (first_video.width, first_video.height)
                or bytes(video.codec_context.extradata or b"")
                != bytes(first_video.codec_context.extradata or b"")
            ):
                raise MediaIncompatible("the segments have different video parameters")
            if bool(container.streams.audio) != bool(first_audio):
                raise MediaIncompatible("the segments differ in having sound")
        with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as output:
            video_out = output.add_stream_from_template(first_video)
            audio_out = output.add_stream_from_template(first_audio) if first_audio else None
            offset = Fraction(0)
            last_dts: dict[int, Fraction] = {}
            for container in inputs:
                video = container.streams.video[0]
                audio = container.streams.audio[0] if container.streams.audio else None
                streams = [s for s in (video, audio) if s is not None]
                end = offset
                for packet in container.demux(*streams):
                    if packet.dts is None or packet.time_base is None:
                        continue  # the flush packet at the end of each stream
                    shift = round(offset / packet.time_base)
                    packet.dts += shift
                    packet.pts = packet.pts + shift if packet.pts is not None else None
                    target = video_out if packet.stream is video else audio_out
                    # AAC priming packets of a later segment would overlap the previous one.
                    key = id(target)
                    seconds = packet.dts * packet.time_base
                    if key in last_dts and seconds <= last_dts[key]:
                        continue
                    last_dts[key] = seconds
                    if packet.stream is video and packet.pts is not None:
                        end = max(end, (packet.pts + (packet.duration or 0)) * packet.time_base)
                    packet.stream = cast(Stream, target)  # audio_out exists when audio does
                    output.mux(packet)
                offset = end
    finally:
        for container in inputs:
            container.close()


# ---------------------------------------------------------------------------------------------
# Storing results
# ---------------------------------------------------------------------------------------------


def result_store(*, job_id: uuid.UUID, result: Completed, workdir: Path) -> tuple[str, str]:
    """Save a finished render's video and poster (made from the video if the provider gave
    none) to storage; returns their storage names."""
    prefix = f"videos/{timezone.now():%Y/%m}/{job_id}"
    with result.video_path.open("rb") as handle:
        video_name = default_storage.save(f"{prefix}.mp4", File(handle))
    poster = result.poster_path
    if poster is None or not poster.exists():
        poster = make_poster(result.video_path, workdir / "poster.jpg")
    with poster.open("rb") as handle:
        poster_name = default_storage.save(f"{prefix}.jpg", File(handle))
    return video_name, poster_name


def stored_bytes(*names: str) -> int:
    """Total size of stored files (0 for any that cannot be read)."""
    total = 0
    for name in names:
        try:
            total += default_storage.size(name)
        except OSError:
            continue
    return total


def files_delete(*names: str) -> None:
    """Delete stored files, logging (not raising) what could not be deleted."""
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete %s", name)
