"""The local renderer's "text" and "reference" modes: a drifting gradient with glowing shapes
derived from prompt and seed, reference images as floating cards, the prompt as a caption."""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from generation.providers.local.encode import FPS, _Dice, _even, _plane_arrays, _to_yuv


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
