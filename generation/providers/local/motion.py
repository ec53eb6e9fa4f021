"""The local renderer's image modes: camera moves over input images ("image", "first_last"),
over the source's last frame ("extend") and rescaling a source video ("upscale")."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import av
import numpy as np
from av.container import InputContainer
from PIL import Image, ImageOps

from generation import media
from generation.providers.base import (
    InputImage,
    ProviderFailed,
    RenderRequest,
)
from generation.providers.local.encode import (
    AUDIO_RATE,
    FPS,
    _Dice,
    _ease,
    _even,
    _plane_arrays,
    _Sound,
    _to_yuv,
)

_ZOOM = 1.15  # how far the camera moves in over one clip (image modes)
_FrameT = TypeVar("_FrameT", bound="av.frame.Frame")


def _ken_burns(
    image: np.ndarray, width: int, height: int, total: int, dice: _Dice
) -> Iterator[av.VideoFrame]:
    """Zoom slowly into a seed-chosen point of `image`; frame 0 is the whole image (covered)."""
    canvas = _cover(image, _even(width * _ZOOM), _even(height * _ZOOM))
    pan = (dice.uniform(-0.8, 0.8), dice.uniform(-0.8, 0.8))
    for index in range(total):
        move = _ease(index / max(total - 1, 1))
        yield _window(canvas, 1 + (_ZOOM - 1) * move, (pan[0] * move, pan[1] * move), width, height)


def _transition(
    first: np.ndarray, last: np.ndarray, width: int, height: int, total: int
) -> Iterator[av.VideoFrame]:
    """Push into `first`, crossfade to `last` while it settles; ends exactly on `last`."""
    size = (_even(width * _ZOOM), _even(height * _ZOOM))
    start, end = _cover(first, *size), _cover(last, *size)
    for index in range(total):
        t = index / max(total - 1, 1)
        move = _ease(t)
        mix = _ease(min(max((t - 0.25) / 0.5, 0.0), 1.0))
        into_first = 1 + (_ZOOM - 1) * move
        onto_last = _ZOOM - (_ZOOM - 1) * move
        if mix <= 0:
            yield _window(start, into_first, (0, 0), width, height)
        elif mix >= 1:
            yield _window(end, onto_last, (0, 0), width, height)
        else:
            # (a * (256 - w) + b * w + 128) >> 8 in place: never above 255 * 256 + 128.
            weight = round(mix * 256)
            blend = _window(start, into_first, (0, 0), width, height).to_ndarray()
            blend = blend.astype(np.uint16)
            blend *= 256 - weight
            other = _window(end, onto_last, (0, 0), width, height).to_ndarray()
            blend += other.astype(np.uint16) * np.uint16(weight)
            blend += 128
            blend >>= 8
            yield av.VideoFrame.from_ndarray(blend.astype(np.uint8), format="yuv420p")


def _rescaled(path: Path, width: int, height: int, total: int) -> Iterator[av.VideoFrame]:
    """The source's frames at `width` x `height`, resampled in time to 24 fps.

    Times are read once, as frames arrive: a frame yielded twice may be re-stamped by the
    encoder loop (swscale hands back the source frame itself when there is nothing to do).
    """
    with _reading(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames = _safe_frames(path, container.decode(stream))
        decoded = ((frame, frame.time or 0.0) for frame in frames)
        first = next(decoded, None)
        if first is None:
            raise ProviderFailed("The source video has no decodable frames.")
        (current, shown_at), origin = first, first[1]
        following = next(decoded, None)
        for index in range(total):
            t = origin + index / FPS
            while following is not None and following[1] <= t + 1e-6:
                (current, shown_at), following = following, next(decoded, None)
            if following is None:
                _check_complete(path, shown_at - origin, index / FPS)
            yield _covering(current, width, height)


def _window(
    canvas: np.ndarray, zoom: float, pan: tuple[float, float], width: int, height: int
) -> av.VideoFrame:
    """The part of `canvas` a camera at `zoom` sees (pan -1..1 per axis), scaled by swscale."""
    canvas_h, canvas_w = canvas.shape[:2]
    crop_w = min(canvas_w, round(canvas_w / zoom))
    crop_h = min(canvas_h, round(crop_w * height / width))
    left = round((canvas_w - crop_w) / 2 * (1 + pan[0]))
    top = round((canvas_h - crop_h) / 2 * (1 + pan[1]))
    view = canvas[top : top + crop_h, left : left + crop_w]
    return _to_yuv(av.VideoFrame.from_numpy_buffer(view, format="rgb24"), width, height)


def _covering(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """`frame` scaled to cover width x height, centre-cropped if its shape differs (no stretch)."""
    if abs(frame.width * height - frame.height * width) <= 0.01 * frame.height * width:
        return _to_yuv(frame, width, height)
    scale = max(width / frame.width, height / frame.height)
    cover_w = max(width, _even(frame.width * scale))
    cover_h = max(height, _even(frame.height * scale))
    left, top = _even((cover_w - width) / 2), _even((cover_h - height) / 2)
    scaled = _plane_arrays(_to_yuv(frame, cover_w, cover_h))
    cropped = av.VideoFrame(width, height, "yuv420p")
    for target, source, factor in zip(_plane_arrays(cropped), scaled, (1, 2, 2), strict=True):
        rows, columns = target.shape
        target[...] = source[top // factor : top // factor + rows, left // factor :][:, :columns]
    return cropped


def _cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`image` scaled to cover width x height and centre-cropped, as C-contiguous RGB."""
    fitted = ImageOps.fit(Image.fromarray(image), (width, height), Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.asarray(fitted.convert("RGB")))


def _decode_image(image: InputImage, index: int, at_least: int) -> np.ndarray:
    """The image as upright RGB; JPEGs are decoded at a reduced scale when still >= `at_least`."""
    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            opened.draft(None, (at_least, at_least))  # a square: EXIF may turn the image
            opened.load()
            upright = ImageOps.exif_transpose(opened)
            return np.asarray(upright.convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ProviderFailed(f"Input image {index + 1} could not be decoded: {exc}") from exc


def _require_images(request: RenderRequest, count: int) -> None:
    if len(request.images) < count:
        raise ProviderFailed(
            f"Mode {request.mode!r} needs {count} image(s); got {len(request.images)}."
        )


def _source_path(request: RenderRequest) -> Path:
    if not request.source_video_path or not Path(request.source_video_path).is_file():
        raise ProviderFailed(f"Mode {request.mode!r} needs the source video; it is missing.")
    return Path(request.source_video_path)


def _last_frame(path: Path) -> np.ndarray:
    """The source's last frame as RGB (seeks near the end, decodes from the start if that fails)."""
    with _reading(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        duration = media.duration_seconds(container, stream)
        start = (
            float(stream.start_time * stream.time_base)
            if stream.start_time and stream.time_base
            else 0.0
        )
        last = None
        if duration > 2 and stream.time_base:
            with contextlib.suppress(av.FFmpegError):
                container.seek(int((duration - 2) / stream.time_base), stream=stream, backward=True)
                for frame in _safe_frames(path, container.decode(stream)):
                    last = frame
        if last is None:
            container.seek(0)
            for frame in _safe_frames(path, container.decode(stream)):
                last = frame
    if last is None:
        raise ProviderFailed("The source video has no decodable frames.")
    _check_complete(path, (last.time or 0.0) - start, duration - 1 / FPS)
    return last.to_ndarray(format="rgb24", src_colorspace=media.assumed_matrix(last))


def _check_complete(path: Path, last_frame_at: float, needed_until: float) -> None:
    """Refuse a source whose frames stop more than a second before its stated end."""
    if last_frame_at < needed_until - 1.0:
        raise ProviderFailed(
            f"The source video {path.name} is truncated: its frames stop at "
            f"{last_frame_at:.2f} s, short of {needed_until:.2f} s."
        )


def _source_frame_count(path: Path) -> int:
    """How many 24 fps frames keep the source's duration (at least one)."""
    with _reading(path) as container:
        duration = media.duration_seconds(container, container.streams.video[0])
    if duration <= 0:
        raise ProviderFailed("The source video does not state its duration.")
    return max(1, round(duration * FPS))


def _source_sound(path: Path, count: int) -> _Sound | None:
    """The source's sound at 48 kHz, cut or padded to `count` samples; None if it has none.

    Mono stays mono; anything else becomes stereo.
    """
    with _reading(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        layout = "mono" if stream.codec_context.channels == 1 else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=AUDIO_RATE)
        chunks: list[np.ndarray] = []
        for frame in _safe_frames(path, container.decode(stream)):
            chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray() for out in resampler.resample(None))
    if not chunks:
        return None
    sound = np.concatenate(chunks, axis=1)[:, :count].astype(np.float32)
    sound = np.pad(sound, ((0, 0), (0, count - sound.shape[1])))
    return _Sound(
        layout,
        64_000 * len(sound),
        lambda start, length: np.ascontiguousarray(sound[:, start : start + length]),
    )


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[InputContainer]:
    """Open a source video that has a video stream; errors become `ProviderFailed`."""
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise ProviderFailed(f"The source video could not be read: {exc}") from exc
    with container:
        if not container.streams.video:
            raise ProviderFailed("The source video has no video stream.")
        yield container


def _safe_frames(path: Path, frames: Iterator[_FrameT]) -> Iterator[_FrameT]:
    """Frames of a decoding loop, with FFmpeg errors reported as a corrupt source."""
    try:
        yield from frames
    except av.FFmpegError as exc:
        raise ProviderFailed(f"The source video {path.name} is corrupt: {exc}") from exc
