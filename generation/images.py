"""Validation of every input image (RELIABILITY.md D3 and "Bad input"; reference §6).

Every image a customer gives us (upload or downloaded URL) passes `image_inspect` before it
is stored or sent to a provider. Rules, in the order they are applied:

1. Size: at most `max_bytes`, measured without reading the data (len, stat, or seek/tell);
   empty input is refused.
2. Type: sniffed from the first bytes, never from a filename or a declared content type.
   Only JPEG, PNG and WebP are accepted; GIF, BMP, TIFF, SVG, PDF, PSD, HEIC/AVIF and
   anything unrecognised are refused with a message listing the allowed formats.
3. Header: Pillow opens the file with only the sniffed decoder allowed
   (`Image.open(fp, formats=[...])`); this reads the header, not the pixels. Width x height
   must not exceed `max_pixels` (setting GENERATION_IMAGE_MAX_PIXELS, default 25 million;
   WebP: GENERATION_WEBP_MAX_PIXELS, default 9 million)
   and both must be > 0, so a 20000x20000 PNG header is refused before any decoding. Pillow's
   DecompressionBombWarning is raised as an error as well.
4. Animation: animated PNG (APNG) and animated WebP are refused. Multi-picture JPEGs (MPO,
   e.g. phone photos with a depth map) are accepted as JPEG; the primary image is checked.
5. Decode: the image is decoded completely (`im.load()`), which proves the data is real and
   complete; truncated or corrupt files are refused. JPEGs are decoded with DCT scaling
   (`draft`, 1/8 size): every byte of the entropy-coded data is still decoded, but the pixel
   buffer is 64 times smaller, which keeps peak memory for a 50 MB upload near the file size.

This relies on Pillow's default `ImageFile.LOAD_TRUNCATED_IMAGES = False`; nothing in the
project may change it. Inspection has no side effects; a file object is left at position 0
so the caller can store it.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from PIL import Image

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
DEFAULT_MAX_PIXELS = 25_000_000
_ALLOWED_TEXT = "allowed formats are JPEG, PNG and WebP"
_SNIFF_BYTES = 512
_READ_CHUNK = 1024 * 1024

ImageSource = bytes | bytearray | memoryview | BinaryIO | str | os.PathLike[str]


class ImageRejected(Exception):
    """The input is not an acceptable image; the message names the problem.

    `code` is one of: empty, too_large, unsupported_format, too_many_pixels, empty_dimensions,
    animated, corrupt — for facades that map rejections to their own error codes.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ImageInfo:
    """What an accepted image is. Width and height are as stored (before EXIF orientation)."""

    format: str  # "JPEG" | "PNG" | "WEBP"
    mime_type: str
    width: int
    height: int
    size: int  # bytes


def _default_max_pixels() -> int:
    return int(getattr(settings, "GENERATION_IMAGE_MAX_PIXELS", DEFAULT_MAX_PIXELS))


def _check_size(size: int, max_bytes: int) -> None:
    if size == 0:
        raise ImageRejected("image is empty", code="empty")
    if size > max_bytes:
        raise ImageRejected(
            f"image is {size:,} bytes; the limit is {max_bytes:,} bytes", code="too_large"
        )


@contextlib.contextmanager
def _opened(source: ImageSource, max_bytes: int) -> Iterator[tuple[BinaryIO, int]]:
    """Yield a seekable binary file positioned at 0 and its size, after the byte-size check."""
    size: int | None
    if isinstance(source, bytes | bytearray | memoryview):
        size = memoryview(source).nbytes
        _check_size(size, max_bytes)
        # BytesIO shares a bytes object's buffer until written to: no copy for bytes.
        yield io.BytesIO(source), size
    elif isinstance(source, str | os.PathLike):
        size = os.stat(source).st_size
        _check_size(size, max_bytes)
        with open(source, "rb") as fp:
            yield fp, size
    else:
        size = _stream_size(source)
        if size is None:
            # A stream without seek: copy at most one byte past the limit.
            buffer = _read_bounded(source, max_bytes)
            size = buffer.getbuffer().nbytes
            _check_size(size, max_bytes)
            yield buffer, size
            return
        _check_size(size, max_bytes)
        try:
            yield source, size
        finally:
            source.seek(0)


def _stream_size(fp: BinaryIO) -> int | None:
    """Size of a seekable file object via seek/tell (rewound to 0), or None if not seekable."""
    try:
        fp.seek(0, io.SEEK_END)
        size = fp.tell()
        fp.seek(0)
    except (AttributeError, OSError):  # io.UnsupportedOperation is an OSError
        return None
    return size


def _read_bounded(fp: BinaryIO, max_bytes: int) -> io.BytesIO:
    buffer = io.BytesIO()
    while buffer.tell() <= max_bytes:
        chunk = fp.read(min(_READ_CHUNK, max_bytes + 1 - buffer.tell()))
        if not chunk:
            break
        buffer.write(chunk)
    buffer.seek(0)
    return buffer


def _other_format(header: bytes) -> str | None:
    """Name formats we recognise but do not accept, for a clearer message."""
    stripped = header.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    signatures = (
        ((b"GIF87a", b"GIF89a"), "GIF"),
        ((b"BM",), "BMP"),
        ((b"II*\x00", b"MM\x00*"), "TIFF"),
        ((b"%PDF",), "PDF"),
        ((b"8BPS",), "PSD"),
        ((b"\x00\x00\x01\x00",), "ICO"),
        ((b"\xff\x0a", b"\x00\x00\x00\x0cJXL "), "JPEG XL"),
        ((b"\x00\x00\x00\x0cjP  ",), "JPEG 2000"),
    )
    for prefixes, name in signatures:
        if header.startswith(prefixes):
            return name
    if stripped.startswith((b"<svg", b"<?xml", b"<!doctype svg")) or b"<svg" in stripped:
        return "SVG"
    if header[4:8] == b"ftyp":
        brand = header[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "HEIC"
    return None


def _sniff(header: bytes) -> str:
    if header.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if header.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if header[:4] == b"RIFF" and header[8:12] == b"WEBP":
        return "WEBP"
    other = _other_format(header)
    if other is not None:
        raise ImageRejected(
            f"{other} images are not accepted; {_ALLOWED_TEXT}", code="unsupported_format"
        )
    raise ImageRejected(f"is not a recognised image; {_ALLOWED_TEXT}", code="unsupported_format")


def _pixel_limit_error(width: int, height: int, max_pixels: int) -> ImageRejected:
    return ImageRejected(
        f"image is {width}x{height} = {width * height:,} pixels; "
        f"the limit is {max_pixels:,} pixels",
        code="too_many_pixels",
    )


def _decode(fp: BinaryIO, image_format: str, max_pixels: int) -> tuple[int, int]:
    """Open with only `image_format` allowed, check the header, then decode fully."""
    try:
        # catch_warnings changes process-wide filters and is not thread-safe; the explicit
        # pixel check below is the primary guard (max_pixels is far below Pillow's own
        # 89M-pixel warning threshold), this only turns Pillow's warning into a refusal.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp, formats=[image_format]) as im:
                width, height = im.size
                if width <= 0 or height <= 0:
                    raise ImageRejected("image has zero width or height", code="empty_dimensions")
                if width * height > max_pixels:
                    raise _pixel_limit_error(width, height, max_pixels)
                # Pillow's WebP decoder needs ~16 bytes a pixel with no reduced-size decode,
                # so WebP gets its own, lower cap (still above 4K's 8.3 million pixels).
                webp_limit = int(getattr(settings, "GENERATION_WEBP_MAX_PIXELS", 9_000_000))
                if image_format == "WEBP" and width * height > min(max_pixels, webp_limit):
                    raise _pixel_limit_error(width, height, min(max_pixels, webp_limit))
                frames = getattr(im, "n_frames", 1)
                if image_format != "JPEG" and frames > 1:
                    raise ImageRejected(
                        f"animated images are not accepted ({frames} frames)", code="animated"
                    )
                if image_format == "JPEG":
                    im.draft(None, (max(1, width // 8), max(1, height // 8)))
                im.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(
            f"image has too many pixels ({exc}); the limit is {max_pixels:,} pixels",
            code="too_many_pixels",
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        # Pillow reports broken data with all of these (UnidentifiedImageError is an OSError).
        raise ImageRejected(
            f"the {image_format} data is corrupt or truncated: {exc}", code="corrupt"
        ) from exc
    return width, height


def image_inspect(
    source: ImageSource, *, max_bytes: int, max_pixels: int | None = None
) -> ImageInfo:
    """Check that `source` is an acceptable input image and describe it.

    `source` is the image bytes, a binary file object (anything with read/seek/tell, such as
    Django's TemporaryUploadedFile or InMemoryUploadedFile), or a filesystem path. Prefer a file
    object or path for large uploads: the data is streamed to the decoder, not copied. The
    rules are in the module docstring. `max_pixels` defaults to GENERATION_IMAGE_MAX_PIXELS
    (25,000,000 if unset; WebP at most GENERATION_WEBP_MAX_PIXELS).

    Raises ImageRejected with a message naming the problem. No side effects; a file object is
    rewound to position 0 afterwards.
    """
    limit = max_pixels if max_pixels is not None else _default_max_pixels()
    with _opened(source, max_bytes) as (fp, size):
        image_format = _sniff(fp.read(_SNIFF_BYTES))
        fp.seek(0)
        width, height = _decode(fp, image_format, limit)
    return ImageInfo(
        format=image_format,
        mime_type=MIME_TYPES[image_format],
        width=width,
        height=height,
        size=size,
    )
