"""Encoding of the local renderer: H.264 + AAC settings, the frame/sound muxing loop, the
placeholder chord, and small deterministic helpers shared by the scene modules."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.container import OutputContainer
from av.video.stream import VideoStream

from billing.catalog import ASPECT_RATIOS, FRAME_SIZES
from generation import media
from generation.providers.base import (
    ProgressFn,
    ProviderFailed,
)

FPS = 24
AUDIO_RATE = 48_000
SAMPLES_PER_FRAME = AUDIO_RATE // FPS
# A preview renderer: fast presets over small files. crf 23 is x264's default quality.
X264_OPTIONS = {"preset": "veryfast", "crf": "23"}
# moov first, so browsers can start playing (and seeking) before the whole file has arrived.
MP4_OPTIONS = {"movflags": "+faststart"}

_BT709 = 1  # AVCOL_SPC_BT709 == AVCOL_PRI_BT709 == AVCOL_TRC_BT709
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG
_PROGRESS_STEPS = 40  # progress is reported every 1/40 of the frames


@dataclass(frozen=True)
class _Sound:
    """An audio track at 48 kHz: `samples(first, count)` gives float32 (channels, count)."""

    layout: str  # "mono" or "stereo"
    bit_rate: int
    samples: Callable[[int, int], np.ndarray]


def frame_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """(width, height) for a resolution and a resolved aspect ratio ("16:9" or "9:16")."""
    if resolution not in FRAME_SIZES:
        raise ProviderFailed(f"The local renderer has no resolution {resolution!r}.")
    if aspect_ratio not in ASPECT_RATIOS:
        raise ProviderFailed(f"The local renderer has no aspect ratio {aspect_ratio!r}.")
    width, height = FRAME_SIZES[resolution]
    return (width, height) if aspect_ratio == ASPECT_RATIOS[0] else (height, width)


def add_h264_stream(container: OutputContainer, width: int, height: int) -> VideoStream:
    """Add the renderer's H.264 stream (24 fps, yuv420p, BT.709 tagged) to `container`.

    The one place that holds the encoder settings, so the benchmark's baseline encodes exactly
    as the renderer does. x264 frame threads (not PyAV's default slice threads): faster, and
    still deterministic for a given machine.
    """
    stream = container.add_stream("libx264", rate=FPS, options=dict(X264_OPTIONS))
    stream.width = width
    stream.height = height
    stream.pix_fmt = "yuv420p"
    context = stream.codec_context
    context.thread_type = "FRAME"
    context.colorspace = _BT709
    context.color_primaries = _BT709
    context.color_trc = _BT709
    context.color_range = _LIMITED_RANGE
    return stream


def _encode(
    path: Path,
    frames: Iterable[av.VideoFrame],
    *,
    width: int,
    height: int,
    total: int,
    sound: _Sound,
    progress: ProgressFn,
    poster_index: int,
    poster_path: Path,
) -> None:
    """Encode exactly `total` frames and their sound to `path`, then write the poster.

    Frame `poster_index` becomes `poster_path`, written only once the video is in place. Sound
    is muxed frame by frame beside the video, so the file streams interleaved.
    """
    partial = path.with_name(path.name + ".part")
    step = max(1, total // _PROGRESS_STEPS)
    done = 0
    poster = None
    try:
        with av.open(str(partial), "w", format="mp4", options=MP4_OPTIONS) as container:
            video = add_h264_stream(container, width, height)
            audio = container.add_stream("aac", rate=AUDIO_RATE, layout=sound.layout)
            audio.bit_rate = sound.bit_rate
            for frame in frames:
                if done == total:
                    break
                frame.pts = done
                frame.time_base = Fraction(1, FPS)
                frame.colorspace = _BT709
                frame.color_range = _LIMITED_RANGE
                if done == poster_index:
                    poster = frame.to_image()
                container.mux(video.encode(frame))
                samples = sound.samples(done * SAMPLES_PER_FRAME, SAMPLES_PER_FRAME)
                chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout=sound.layout)
                chunk.sample_rate = AUDIO_RATE
                chunk.pts = done * SAMPLES_PER_FRAME
                chunk.time_base = Fraction(1, AUDIO_RATE)
                container.mux(audio.encode(chunk))
                done += 1
                if done % step == 0 and done < total:
                    progress(done / total)
            if done != total:
                raise ProviderFailed(f"The renderer produced {done} of {total} frames.")
            container.mux(video.encode(None))
            container.mux(audio.encode(None))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    if poster is not None:
        media.jpeg_save(poster, poster_path)


def _chord(seed: int, total_samples: int) -> _Sound:
    """A soft, seed-chosen major or minor chord, each voice swelling slowly, faded in and out.

    Mono at 64 kb/s: it is a placeholder, and AAC-encoding stereo would cost a tenth of the
    render. The slow gains are computed per chunk and ramped linearly across it.
    """
    dice = _Dice("chord", seed)
    root = 196.0 * 2 ** (dice.integer(0, 12) / 12)  # G3 up to F#4
    steps = (0, 4, 7, 12) if dice.uniform() < 0.5 else (0, 3, 7, 12)
    freqs = np.array([root * 2 ** (step / 12) for step in steps])
    phases = np.array([dice.uniform(0, 2 * math.pi) for _ in steps])
    wobbles = np.array([dice.uniform(0.05, 0.2) for _ in steps])
    weights = 0.12 / (1 + np.arange(len(steps)))
    length = total_samples / AUDIO_RATE
    fade = min(1.0, length / 4)

    def gains(t: float) -> np.ndarray:
        envelope = min(max(min(t, length - t) / fade, 0.0), 1.0)
        return weights * envelope * (0.75 + 0.25 * np.sin(2 * np.pi * wobbles * t + phases))

    def samples(start: int, count: int) -> np.ndarray:
        t = (start + np.arange(count, dtype=np.float64)) / AUDIO_RATE
        begin, end = gains(start / AUDIO_RATE), gains((start + count) / AUDIO_RATE)
        ramp = np.arange(count, dtype=np.float64) / count
        mono = np.zeros(count)
        for index in range(len(freqs)):
            level = begin[index] + (end[index] - begin[index]) * ramp
            mono += level * np.sin(2 * np.pi * freqs[index] * t + phases[index])
        return mono[None, :].astype(np.float32)

    return _Sound("mono", 64_000, samples)


def _to_yuv(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """Scale and convert to yuv420p BT.709 limited range in one swscale pass."""
    return frame.reformat(
        width=width,
        height=height,
        format="yuv420p",
        src_colorspace=media.assumed_matrix(frame),
        dst_colorspace="ITU709",
        dst_color_range="MPEG",
        interpolation="BICUBIC",
    )


class _Dice:
    """Deterministic numbers from a key: BLAKE2b in counter mode, stable on every platform."""

    def __init__(self, *key: object) -> None:
        self._key = hashlib.blake2b(repr(key).encode(), digest_size=32).digest()
        self._counter = 0

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        self._counter += 1
        block = hashlib.blake2b(
            self._counter.to_bytes(8, "little"), key=self._key, digest_size=8
        ).digest()
        return low + (high - low) * int.from_bytes(block, "little") / 2**64

    def integer(self, low: int, high: int) -> int:
        """A whole number in [low, high)."""
        return min(high - 1, low + int(self.uniform() * (high - low)))


def _plane_arrays(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Writable numpy views of a yuv420p frame's three planes (line padding cut off)."""
    # numpy's stubs accept any buffer only from Python 3.12 (collections.abc.Buffer).
    luma, blue, red = (
        np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)[  # type: ignore[call-overload]
            :, : plane.width
        ]
        for plane in frame.planes
    )
    return luma, blue, red


def _even(value: float) -> int:
    return 2 * round(value / 2)


def _ease(t: float) -> float:
    """Smoothstep: starts and ends at rest."""
    return t * t * (3 - 2 * t)
