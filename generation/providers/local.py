"""The `local` provider: a CPU preview renderer that writes a real H.264 + AAC MP4 with PyAV.

It is not a generative model. It renders, deterministically from the request:
- "text": a drifting gradient with soft glowing shapes, all derived from a hash of prompt and
  seed, the prompt written small at the bottom;
- "reference": the same, coloured by the reference images, which float over it as cards;
- "image": a slow zoom and pan ("Ken Burns") over the image, starting on the image itself;
- "first_last": a move from the first image into the last one, crossfading in the middle;
- "extend": a camera move that starts on the last frame of the source video;
- "upscale": the source video rescaled to the requested size, duration and sound kept.

Output: 24 fps H.264 (libx264, yuv420p, BT.709 limited range), `duration_seconds * 24` frames
(upscale: the source's duration), and a 48 kHz AAC track of exactly the same length: a soft
seed-chosen chord in mono, or for upscale the source's own sound.

Speed: the encoder dominates. Textures are prepared once; a frame is then a few numpy slice
copies and in-place adds (text modes) or one swscale call (`VideoFrame.reformat`, image modes).
`add_h264_stream` holds the encoder settings; `bench/bench_render.py` uses it for its baseline.
"""

from __future__ import annotations

import colorsys
import contextlib
import hashlib
import io
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.container import InputContainer, OutputContainer
from av.video.stream import VideoStream
from PIL import Image, ImageDraw, ImageFont, ImageOps

from generation.providers.base import (
    Completed,
    InputImage,
    ProgressFn,
    ProviderFailed,
    RenderRequest,
    VideoProvider,
)

FPS = 24
AUDIO_RATE = 48_000
SAMPLES_PER_FRAME = AUDIO_RATE // FPS
VIDEO_FILENAME = "video.mp4"
POSTER_FILENAME = "poster.jpg"
# Landscape sizes; 9:16 swaps them.
FRAME_SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}
# A preview renderer: fast presets over small files. crf 23 is x264's default quality.
X264_OPTIONS = {"preset": "veryfast", "crf": "23"}
# moov first, so browsers can start playing (and seeking) before the whole file has arrived.
MP4_OPTIONS = {"movflags": "+faststart"}
MODES = ("text", "image", "first_last", "reference", "extend", "upscale")

_BT709 = 1  # AVCOL_SPC_BT709 == AVCOL_PRI_BT709 == AVCOL_TRC_BT709
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG
_ZOOM = 1.15  # how far the camera moves in over one clip (image modes)
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
    if aspect_ratio not in ("16:9", "9:16"):
        raise ProviderFailed(f"The local renderer has no aspect ratio {aspect_ratio!r}.")
    width, height = FRAME_SIZES[resolution]
    return (width, height) if aspect_ratio == "16:9" else (height, width)


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
            duration = _duration_seconds(container, stream)
            target = duration * min(max(at_fraction, 0.0), 1.0)
            frame = None
            if target > 0 and stream.time_base:
                # Seek to the keyframe before `target`, then decode up to it.
                with contextlib.suppress(av.FFmpegError):
                    container.seek(int(target / stream.time_base), stream=stream, backward=True)
                frame = _frame_at(container, stream, target)
            if frame is None:
                container.seek(0)
                frame = _frame_at(container, stream, 0.0)
    except av.FFmpegError as exc:
        raise ProviderFailed(f"Could not read a frame of {video_path.name}: {exc}") from exc
    if frame is None:
        raise ProviderFailed(f"{video_path.name} has no decodable video frame.")
    _save_jpeg(frame.to_image(src_colorspace=_assumed_matrix(frame)), out_path)
    return out_path


class LocalProvider(VideoProvider):
    """The embedded preview renderer; finishes inside `submit`."""

    name = "local"

    def submit(self, request: RenderRequest, *, workdir: Path, progress: ProgressFn) -> Completed:
        """Render the request into `workdir/video.mp4` and `workdir/poster.jpg`, synchronously.

        Deterministic: the same request gives the same frames (on one machine: x264's output
        depends on its thread count). Calls `progress` with fractions of the frames done, at
        least every 1/40 of them, and 1.0 once both files are in place. Safe to call again for
        the same job: files are written under temporary names and renamed over older ones.
        Raises `ProviderFailed` for inputs it cannot use (missing or undecodable images, a
        missing or corrupt source video, unknown mode, size or duration).
        """
        width, height = frame_size(request.resolution, request.aspect_ratio)
        if request.mode not in MODES:
            raise ProviderFailed(f"The local renderer has no mode {request.mode!r}.")
        if request.mode != "upscale" and request.duration_seconds < 1:
            raise ProviderFailed("duration_seconds must be a positive whole number.")
        workdir.mkdir(parents=True, exist_ok=True)
        video_path = workdir / VIDEO_FILENAME
        poster_path = workdir / POSTER_FILENAME
        total = request.duration_seconds * FPS
        sound: _Sound | None = None
        poster_index = 0
        frames: Iterable[av.VideoFrame]
        if request.mode in ("text", "reference"):
            card = _card_side(width, height)
            references = (
                [_decode_image(image, index, card) for index, image in enumerate(request.images)]
                if request.mode == "reference"
                else []
            )
            scene = _TextScene(request.prompt, request.seed, width, height, references)
            frames = (scene.frame(index) for index in range(total))
            poster_index = total // 2
        elif request.mode == "image":
            _require_images(request, 1)
            image = _decode_image(request.images[0], 0, round(max(width, height) * _ZOOM))
            frames = _ken_burns(image, width, height, total, _Dice("image", request.seed))
        elif request.mode == "first_last":
            _require_images(request, 2)
            side = round(max(width, height) * _ZOOM)
            first, last = (_decode_image(request.images[i], i, side) for i in (0, 1))
            frames = _transition(first, last, width, height, total)
        elif request.mode == "extend":
            source = _last_frame(_source_path(request))
            frames = _ken_burns(source, width, height, total, _Dice("extend", request.seed))
        else:  # upscale keeps the source's duration and sound
            source_path = _source_path(request)
            total = _source_frame_count(source_path)
            sound = _source_sound(source_path, total * SAMPLES_PER_FRAME)
            frames = _rescaled(source_path, width, height, total)
        sound = sound or _chord(request.seed, total * SAMPLES_PER_FRAME)
        _encode(
            video_path,
            frames,
            width=width,
            height=height,
            total=total,
            sound=sound,
            progress=progress,
            poster_index=poster_index,
            poster_path=poster_path,
        )
        progress(1.0)
        return Completed(
            video_path=video_path,
            width=width,
            height=height,
            duration_seconds=total / FPS,
            poster_path=poster_path,
            details={"renderer": "local preview", "frames": str(total)},
        )


# --- encoding ------------------------------------------------------------------------------


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
        _save_jpeg(poster, poster_path)


def _save_jpeg(image: Image.Image, path: Path) -> None:
    partial = path.with_name(path.name + ".part")
    image.save(partial, format="JPEG", quality=85)
    os.replace(partial, path)


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


# --- text and reference modes --------------------------------------------------------------


class _TextScene:
    """A drifting gradient with additive glowing shapes and the prompt, in YUV 4:2:0.

    Everything is prepared once: the background is a texture larger than the frame whose
    window drifts, and each shape is a small additive sprite, so a frame is a few slice copies
    and, per shape and plane, two in-place uint8 operations (a clamp, then an add).
    """

    def __init__(
        self, prompt: str, seed: int, width: int, height: int, references: list[np.ndarray]
    ) -> None:
        self.width, self.height = width, height
        dice = _Dice("text", prompt, seed)
        short = min(width, height)
        if references:
            base, second, third = _hues(references, dice)[:3]
        else:
            base = dice.uniform()
            second, third = base + dice.uniform(0.08, 0.2), base + dice.uniform(0.3, 0.55)
        palette = [
            _hsv(base, dice.uniform(0.55, 0.8), dice.uniform(0.18, 0.3)),
            _hsv(second, dice.uniform(0.5, 0.75), dice.uniform(0.38, 0.5)),
            _hsv(third, dice.uniform(0.45, 0.7), dice.uniform(0.26, 0.4)),
        ]
        self.margin = _even(short * 0.12)
        self.background = _gradient(
            width + 2 * self.margin, height + 2 * self.margin, palette, dice
        )
        self.drift = [(dice.uniform(7, 13), dice.uniform(0, 2 * math.pi)) for _ in range(2)]
        self.shapes = [_Shape.make(dice, short, base) for _ in range(dice.integer(6, 10))]
        self.cards = [
            _Card.make(image, dice, width, height, index, len(references))
            for index, image in enumerate(references)
        ]
        self.caption = _Caption.make(prompt, width, height)

    def frame(self, index: int) -> av.VideoFrame:
        t = index / FPS
        width, height, margin = self.width, self.height, self.margin
        frame = av.VideoFrame(width, height, "yuv420p")
        planes = _plane_arrays(frame)
        (period_x, phase_x), (period_y, phase_y) = self.drift
        left = _even(margin * (1 + math.sin(2 * math.pi * t / period_x + phase_x)))
        top = _even(margin * (1 + math.sin(2 * math.pi * t / period_y + phase_y)))
        for plane, texture, scale in zip(planes, self.background, (1, 2, 2), strict=True):
            plane[...] = texture[
                top // scale : top // scale + plane.shape[0],
                left // scale : left // scale + plane.shape[1],
            ]
        for shape in self.shapes:
            x, y = shape.position(t, width, height)
            for plane, light, scale in zip(planes, shape.lights, (1, 2, 2), strict=True):
                light.add_to(plane, x // scale, y // scale)
        for card in self.cards:
            x, y = card.position(t)
            for plane, pixels, scale in zip(planes, card.planes, (1, 2, 2), strict=True):
                _copy_clipped(plane, pixels, x // scale, y // scale)
        if self.caption is not None:
            self.caption.draw(planes)
        return frame


@dataclass(frozen=True)
class _Shape:
    """A soft disc or ring of light moving on a slow Lissajous path."""

    lights: tuple[_Light, _Light, _Light]  # Y at full size, U and V at half size
    radius: int
    path: tuple[float, ...]  # centre x, amplitude, frequency, phase; then the same for y

    @classmethod
    def make(cls, dice: _Dice, short: int, base_hue: float) -> _Shape:
        radius = _even(short * dice.uniform(0.05, 0.2))
        ring = dice.uniform() < 0.3
        hue = base_hue + dice.uniform(-0.2, 0.2) + (0.5 if dice.uniform() < 0.25 else 0)
        light = np.array(_hsv(hue, dice.uniform(0.3, 0.75), 1.0)) * dice.uniform(0.2, 0.45)
        if ring:
            light *= 1.5
        full, half = (_light_sprites(radius // scale, light, ring) for scale in (1, 2))
        path = (
            dice.uniform(0.15, 0.85),
            dice.uniform(0.1, 0.4),
            dice.uniform(0.03, 0.11),
            dice.uniform(0, 2 * math.pi),
            dice.uniform(0.15, 0.85),
            dice.uniform(0.1, 0.4),
            dice.uniform(0.03, 0.11),
            dice.uniform(0, 2 * math.pi),
        )
        return cls((full[0], half[1], half[2]), radius, path)

    def position(self, t: float, width: int, height: int) -> tuple[int, int]:
        cx, ax, fx, px, cy, ay, fy, py = self.path
        x = width * (cx + ax * math.sin(2 * math.pi * fx * t + px)) - self.radius
        y = height * (cy + ay * math.sin(2 * math.pi * fy * t + py)) - self.radius
        return _even(x), _even(y)


@dataclass(frozen=True)
class _Card:
    """A reference image shown as a small card drifting across the frame."""

    planes: tuple[np.ndarray, np.ndarray, np.ndarray]
    start: tuple[float, float]
    swing: tuple[float, float, float]  # amplitude x, amplitude y, frequency

    @classmethod
    def make(
        cls, image: np.ndarray, dice: _Dice, width: int, height: int, index: int, count: int
    ) -> _Card:
        side = _card_side(width, height)
        thumb = ImageOps.fit(Image.fromarray(image), (side, side), Image.Resampling.LANCZOS)
        bordered = ImageOps.expand(thumb, border=max(2, side // 60), fill=(245, 245, 245))
        frame = av.VideoFrame.from_image(bordered.resize((side, side)))
        planes = _plane_arrays(_to_yuv(frame, side, side))
        slot = (index + 0.5) / count
        start = (width * (0.1 + 0.8 * slot) - side / 2, height * dice.uniform(0.12, 0.45))
        swing = (
            width * dice.uniform(0.02, 0.06),
            height * dice.uniform(0.02, 0.06),
            dice.uniform(0.06, 0.12),
        )
        return cls((planes[0].copy(), planes[1].copy(), planes[2].copy()), start, swing)

    def position(self, t: float) -> tuple[int, int]:
        (x, y), (ax, ay, freq) = self.start, self.swing
        angle = 2 * math.pi * freq * t
        return _even(x + ax * math.sin(angle)), _even(y + ay * math.cos(angle))


@dataclass(frozen=True)
class _Caption:
    """The prompt in small type on a translucent band, alpha-blended where it sits."""

    left: int
    top: int
    alpha: tuple[np.ndarray, np.ndarray]  # 0..256, full and half resolution
    colour: tuple[np.ndarray, np.ndarray, np.ndarray]  # premultiplied Y, U, V (uint16)

    @classmethod
    def make(cls, prompt: str, width: int, height: int) -> _Caption | None:
        text = " ".join(prompt.split())[:300]
        if not text:
            return None
        short = min(width, height)
        font = ImageFont.load_default(size=max(12, round(short / 34)))
        limit = width * 0.8
        if font.getlength(text) > limit:
            while text and font.getlength(text + "…") > limit:
                text = text[:-1]
            text = text.rstrip() + "…"
        pad = _even(short / 60)
        left, top, right, bottom = font.getbbox(text)
        box_w, box_h = _even(right - left + 3 * pad), _even(bottom - top + 2 * pad)
        band = Image.new("L", (box_w, box_h), 0)
        ImageDraw.Draw(band).rounded_rectangle((0, 0, box_w - 1, box_h - 1), radius=pad, fill=110)
        glyphs = Image.new("L", (box_w, box_h), 0)
        ImageDraw.Draw(glyphs).text((1.5 * pad - left, pad - top), text, font=font, fill=235)
        band_a = np.asarray(band, dtype=np.float32) / 255
        glyph_a = np.asarray(glyphs, dtype=np.float32) / 255
        alpha = 1 - (1 - band_a) * (1 - glyph_a)
        # Band (near black) under white glyphs; Y premultiplied by alpha, chroma neutral.
        luma = (20 * band_a * (1 - glyph_a) + 235 * glyph_a) * 256
        half = alpha.reshape(box_h // 2, 2, box_w // 2, 2).mean(axis=(1, 3))
        alpha_q = np.rint(alpha * 256).astype(np.uint16)
        half_q = np.rint(half * 256).astype(np.uint16)
        neutral = (half_q * 128).astype(np.uint16)
        return cls(
            _even(short / 24),
            height - box_h - _even(short / 24),
            (alpha_q, half_q),
            (np.rint(luma).astype(np.uint16), neutral, neutral),
        )

    def draw(self, planes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        for plane, alpha, colour, scale in zip(
            planes,
            (self.alpha[0], self.alpha[1], self.alpha[1]),
            self.colour,
            (1, 2, 2),
            strict=True,
        ):
            top, left = self.top // scale, self.left // scale
            region = plane[top : top + alpha.shape[0], left : left + alpha.shape[1]]
            mixed = region.astype(np.uint16)
            mixed *= 256 - alpha
            mixed += colour
            mixed >>= 8
            region[...] = mixed


def _gradient(
    width: int, height: int, palette: list[tuple[float, float, float]], dice: _Dice
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A wavy diagonal three-stop gradient as Y (full size), U and V (half size) planes.

    The field is smooth, so it is computed at a quarter of the size and scaled up by swscale.
    """
    small_w, small_h = max(2, width // 4), max(2, height // 4)
    longest = max(small_w, small_h)
    ys = np.linspace(-0.5, 0.5, small_h, dtype=np.float32)[:, None] * (small_h / longest)
    xs = np.linspace(-0.5, 0.5, small_w, dtype=np.float32)[None, :] * (small_w / longest)
    angle = dice.uniform(0, 2 * math.pi)
    field = 0.5 + 0.9 * (xs * math.cos(angle) + ys * math.sin(angle))
    for _ in range(3):
        kx, ky = dice.uniform(-9, 9), dice.uniform(-9, 9)
        field = field + dice.uniform(0.04, 0.1) * np.sin(kx * xs + ky * ys + dice.uniform(0, 7))
    field = np.clip(field, 0, 1)
    stops = np.array(palette, dtype=np.float32)  # 3 x RGB in 0..1
    lower = np.clip(field * 2, 0, 1)[..., None]
    upper = np.clip(field * 2 - 1, 0, 1)[..., None]
    rgb = stops[0] + (stops[1] - stops[0]) * lower + (stops[2] - stops[1]) * upper
    small = av.VideoFrame.from_ndarray(np.rint(rgb * 255).astype(np.uint8), format="rgb24")
    planes = _plane_arrays(_to_yuv(small, width, height))
    return planes[0].copy(), planes[1].copy(), planes[2].copy()


def _rgb_to_yuv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.709 limited range, from RGB in 0..1 (last axis)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (16 + 219 * luma, 128 + 224 * (b - luma) / 1.8556, 128 + 224 * (r - luma) / 1.5748)


def _light_sprites(radius: int, light: np.ndarray, ring: bool) -> tuple[_Light, _Light, _Light]:
    """The Y, U and V offsets that a disc (or ring) of `light` (RGB 0..1) adds to a frame."""
    axis = np.arange(2 * radius, dtype=np.float32) - radius + 0.5
    distance = np.hypot(axis[:, None], axis[None, :]) / radius
    if ring:
        alpha = np.exp(-(((distance - 0.8) / 0.09) ** 2))
    else:
        edge = np.clip((1 - distance) / 0.45, 0, 1)
        alpha = edge * edge * (3 - 2 * edge)
    y, u, v = _rgb_to_yuv(alpha[..., None] * light)
    return _Light.make(y - 16, 235), _Light.make(u - 128, 240), _Light.make(v - 128, 240)


@dataclass(frozen=True)
class _Light:
    """An additive sprite for one plane, saturating at the limited-range bounds.

    A light's chroma offsets share one sign, so saturation is a clamp before the add:
    `min(p, top - d) + d` for d >= 0, `max(p, 16 + |d|) - |d|` for d < 0 (uint8 wrap-around).
    """

    offset: np.ndarray  # uint8; negative offsets as two's complement
    bound: np.ndarray  # uint8: the clamp that keeps the sum inside 16..top
    darkens: bool

    @classmethod
    def make(cls, offset: np.ndarray, top: int) -> _Light:
        rounded = np.rint(offset).astype(np.int16)
        darkens = bool(rounded.sum() < 0)
        rounded = np.minimum(rounded, 0) if darkens else np.maximum(rounded, 0)
        bound = 16 - rounded if darkens else top - rounded
        return cls(rounded.astype(np.uint8), bound.astype(np.uint8), darkens)

    def add_to(self, plane: np.ndarray, x: int, y: int) -> None:
        """plane[y:, x:] += offset, clipped to the plane's edges and to the value range."""
        h, w = self.offset.shape
        top, left = max(y, 0), max(x, 0)
        bottom, right = min(y + h, plane.shape[0]), min(x + w, plane.shape[1])
        if top >= bottom or left >= right:
            return
        region = plane[top:bottom, left:right]
        cut = (slice(top - y, bottom - y), slice(left - x, right - x))
        (np.maximum if self.darkens else np.minimum)(region, self.bound[cut], out=region)
        np.add(region, self.offset[cut], out=region)


def _card_side(width: int, height: int) -> int:
    return _even(min(width, height) * 0.28)


def _hues(references: list[np.ndarray], dice: _Dice) -> list[float]:
    """The dominant hue of each reference image (the hue of its mean colour)."""
    hues = []
    for image in references:
        r, g, b = image.reshape(-1, 3)[:: max(1, image.size // 30000)].mean(axis=0) / 255
        hue, saturation, _ = colorsys.rgb_to_hsv(r, g, b)
        hues.append(hue if saturation > 0.08 else dice.uniform())
    while len(hues) < 3:
        hues.append(hues[-1] + dice.uniform(0.05, 0.15))
    return hues


def _hsv(hue: float, saturation: float, value: float) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb(hue % 1.0, saturation, value)


def _copy_clipped(plane: np.ndarray, pixels: np.ndarray, x: int, y: int) -> None:
    target, source = _overlap(plane, pixels, x, y)
    if target is not None:
        target[...] = source


def _overlap(
    plane: np.ndarray, sprite: np.ndarray, x: int, y: int
) -> tuple[np.ndarray | None, np.ndarray]:
    h, w = sprite.shape
    top, left = max(y, 0), max(x, 0)
    bottom, right = min(y + h, plane.shape[0]), min(x + w, plane.shape[1])
    if top >= bottom or left >= right:
        return None, sprite
    return (plane[top:bottom, left:right], sprite[top - y : bottom - y, left - x : right - x])


# --- image, first_last, extend, upscale ----------------------------------------------------


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


def _to_yuv(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """Scale and convert to yuv420p BT.709 limited range in one swscale pass."""
    return frame.reformat(
        width=width,
        height=height,
        format="yuv420p",
        src_colorspace=_assumed_matrix(frame),
        dst_colorspace="ITU709",
        dst_color_range="MPEG",
        interpolation="BICUBIC",
    )


def _assumed_matrix(frame: av.VideoFrame) -> str | None:
    """How to read an untagged YUV frame: as players do, BT.709 from 720 lines up, else BT.601.

    None (use the frame's own tag) for tagged or RGB frames.
    """
    if not frame.format.name.startswith("yuv") or frame.colorspace in (1, 4, 5, 6, 7, 9):
        return None
    return "ITU709" if frame.height >= 720 else "ITU601"


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
        duration = _duration_seconds(container, stream)
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
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
    return last.to_ndarray(format="rgb24", src_colorspace=_assumed_matrix(last))


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
        duration = _duration_seconds(container, container.streams.video[0])
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
        chunks = []
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


def _safe_frames(path: Path, frames: Iterator[av.frame.Frame]) -> Iterator[av.frame.Frame]:
    """Frames of a decoding loop, with FFmpeg errors reported as a corrupt source."""
    try:
        yield from frames
    except av.FFmpegError as exc:
        raise ProviderFailed(f"The source video {path.name} is corrupt: {exc}") from exc


def _duration_seconds(container: InputContainer, stream: VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _frame_at(
    container: InputContainer, stream: VideoStream, target: float
) -> av.VideoFrame | None:
    """The first decoded frame at or after `target` seconds, else the last one decoded."""
    last = None
    for frame in container.decode(stream):
        last = frame
        if frame.time is None or frame.time >= target - 0.5 / FPS:
            break
    return last


# --- small helpers -------------------------------------------------------------------------


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
    luma, blue, red = (
        np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)[
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
