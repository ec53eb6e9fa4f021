"""D3: only real JPEG/PNG/WebP images decode; byte and pixel limits hold before decoding."""

from __future__ import annotations

import io
import random
import struct
import time
import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from PIL import Image

from generation.images import ImageInfo, ImageRejected, image_inspect

MB = 1024 * 1024
ALLOWED = "allowed formats are JPEG, PNG and WebP"


def _encode(image: Image.Image, image_format: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format, **params)
    return out.getvalue()


def _noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    rng = random.Random(1234)
    channels = len(mode)
    return Image.frombytes(mode, (width, height), rng.randbytes(width * height * channels))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG signature, a valid IHDR (correct CRC) and IEND: claims a size, holds no pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


# 1x1 transparent RGBA PNG built by hand: filter byte 0 + one RGBA pixel.
ONE_PIXEL_PNG = (
    b"\x89PNG\r\n\x1a\n"
    + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0))
    + _png_chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00\x00"))
    + _png_chunk(b"IEND", b"")
)


# --------------------------------------------------------------------------------------------
# Accepted images
# --------------------------------------------------------------------------------------------


def test_one_pixel_png_is_accepted() -> None:
    assert image_inspect(ONE_PIXEL_PNG, max_bytes=MB) == ImageInfo(
        format="PNG", mime_type="image/png", width=1, height=1, size=len(ONE_PIXEL_PNG)
    )


@pytest.mark.parametrize(
    ("image_format", "mime_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")],
)
def test_real_images_are_accepted_with_their_dimensions(image_format: str, mime_type: str) -> None:
    data = _encode(_noise(64, 48), image_format)
    assert image_inspect(data, max_bytes=MB) == ImageInfo(
        format=image_format, mime_type=mime_type, width=64, height=48, size=len(data)
    )


def test_rgba_png_and_lossless_webp_and_grayscale_jpeg_are_accepted() -> None:
    for data in (
        _encode(_noise(20, 10, "RGBA"), "PNG"),
        _encode(_noise(20, 10, "RGBA"), "WEBP", lossless=True),
        _encode(_noise(20, 10, "L"), "JPEG"),
        _encode(_noise(20, 10), "JPEG", progressive=True),
    ):
        info = image_inspect(data, max_bytes=MB)
        assert (info.width, info.height) == (20, 10)


def test_type_comes_from_the_bytes_not_the_file_name(tmp_path: Path) -> None:
    jpeg = _encode(_noise(30, 20), "JPEG")
    path = tmp_path / "photo.png"
    path.write_bytes(jpeg)
    assert image_inspect(path, max_bytes=MB).format == "JPEG"
    upload = SimpleUploadedFile("photo.png", jpeg, content_type="image/png")
    info = image_inspect(upload, max_bytes=MB)
    assert (info.format, info.mime_type) == ("JPEG", "image/jpeg")


def test_file_objects_paths_and_django_uploads_are_accepted_and_rewound(tmp_path: Path) -> None:
    data = _encode(_noise(40, 30), "PNG")
    path = tmp_path / "upload"
    path.write_bytes(data)
    expected = ImageInfo(format="PNG", mime_type="image/png", width=40, height=30, size=len(data))

    assert image_inspect(str(path), max_bytes=MB) == expected
    assert image_inspect(path, max_bytes=MB) == expected

    stream = io.BytesIO(data)
    stream.seek(7)
    assert image_inspect(stream, max_bytes=MB) == expected
    assert stream.tell() == 0

    upload = TemporaryUploadedFile("x.png", "image/png", len(data), None)
    try:
        upload.write(data)
        upload.seek(0)
        assert image_inspect(upload, max_bytes=MB) == expected
        assert upload.tell() == 0
        assert upload.read() == data
    finally:
        upload.close()


def test_a_non_seekable_stream_is_read_only_up_to_the_limit() -> None:
    data = _encode(_noise(16, 16), "WEBP")

    class Pipe(io.RawIOBase):
        def __init__(self, payload: bytes) -> None:
            self._payload = io.BytesIO(payload)
            self.bytes_read = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            chunk = self._payload.read(size)
            self.bytes_read += len(chunk)
            return chunk

    assert image_inspect(Pipe(data), max_bytes=MB).format == "WEBP"

    pipe = Pipe(data + b"\0" * MB)
    with pytest.raises(ImageRejected) as excinfo:
        image_inspect(pipe, max_bytes=len(data))
    assert excinfo.value.code == "too_large"
    assert pipe.bytes_read == len(data) + 1


def test_multi_picture_jpeg_is_accepted_as_jpeg() -> None:
    data = _encode(_noise(32, 24), "MPO", save_all=True, append_images=[_noise(32, 24)])
    info = image_inspect(data, max_bytes=MB)
    assert (info.format, info.width, info.height) == ("JPEG", 32, 24)


# --------------------------------------------------------------------------------------------
# Size and pixel limits
# --------------------------------------------------------------------------------------------


def test_oversize_bytes_are_rejected() -> None:
    data = _encode(_noise(64, 64), "PNG")
    with pytest.raises(ImageRejected, match=f"limit is {len(data) - 1:,} bytes") as excinfo:
        image_inspect(data, max_bytes=len(data) - 1)
    assert excinfo.value.code == "too_large"
    assert image_inspect(data, max_bytes=len(data)).size == len(data)


def test_oversize_file_is_rejected_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    with path.open("wb") as fp:
        fp.write(_png_header_only(10, 10))
        fp.truncate(4 * 1024 * MB)  # sparse: 4 GiB on paper, nothing on disk
    started = time.monotonic()
    with path.open("rb") as fp:
        for source in (path, fp):
            with pytest.raises(ImageRejected, match="limit is") as excinfo:
                image_inspect(source, max_bytes=50 * MB)
            assert excinfo.value.code == "too_large"
    assert time.monotonic() - started < 1


def test_empty_input_is_rejected() -> None:
    with pytest.raises(ImageRejected, match="empty") as excinfo:
        image_inspect(b"", max_bytes=MB)
    assert excinfo.value.code == "empty"


def test_png_header_claiming_20000_by_20000_is_rejected_before_decoding() -> None:
    data = _png_header_only(20000, 20000)
    started = time.monotonic()
    with pytest.raises(ImageRejected, match="pixels") as excinfo:
        image_inspect(data, max_bytes=MB)
    assert excinfo.value.code == "too_many_pixels"
    assert time.monotonic() - started < 0.5


def test_pixel_limit_below_pillows_own_bomb_threshold_is_enforced() -> None:
    # 7000x7000 = 49M pixels: under Pillow's 89M warning threshold, over our 40M default.
    with pytest.raises(ImageRejected, match=r"7000x7000 = 49,000,000 pixels") as excinfo:
        image_inspect(_png_header_only(7000, 7000), max_bytes=MB)
    assert excinfo.value.code == "too_many_pixels"


def test_pixel_limit_can_be_set_per_call_and_by_setting(settings: object) -> None:
    data = _encode(_noise(100, 100), "JPEG")
    with pytest.raises(ImageRejected, match="limit is 5,000 pixels"):
        image_inspect(data, max_bytes=MB, max_pixels=5_000)
    settings.GENERATION_IMAGE_MAX_PIXELS = 9_999
    with pytest.raises(ImageRejected, match="limit is 9,999 pixels"):
        image_inspect(data, max_bytes=MB)
    assert image_inspect(data, max_bytes=MB, max_pixels=10_000).width == 100


def test_pillow_decompression_bomb_warning_is_treated_as_an_error() -> None:
    # 10000x10000 = 100M pixels: Pillow warns (> 89M) but does not raise (< 179M).
    with pytest.raises(ImageRejected, match="too many pixels") as excinfo:
        image_inspect(_png_header_only(10000, 10000), max_bytes=MB, max_pixels=200_000_000)
    assert excinfo.value.code == "too_many_pixels"


def test_zero_width_png_is_rejected() -> None:
    with pytest.raises(ImageRejected) as excinfo:
        image_inspect(_png_header_only(0, 10), max_bytes=MB)
    assert excinfo.value.code in {"empty_dimensions", "corrupt"}


# --------------------------------------------------------------------------------------------
# Formats that must not decode
# --------------------------------------------------------------------------------------------

SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(1)</script></svg>"
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# Photoshop header: signature, version 1, 6 reserved bytes, 3 channels, 10x10, 8 bits, RGB.
PSD = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 10, 10, 8, 3) + b"\0" * 64


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("SVG", SVG),
        ("SVG", b"\xef\xbb\xbf  <svg xmlns='http://www.w3.org/2000/svg'/>"),
        ("PDF", PDF),
        ("PSD", PSD),
        ("GIF", _encode(_noise(10, 10), "GIF")),
        ("BMP", _encode(_noise(10, 10), "BMP")),
        ("TIFF", _encode(_noise(10, 10), "TIFF")),
        ("ICO", _encode(_noise(16, 16), "ICO")),
        ("HEIC", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 32),
        ("AVIF", b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf" + b"\0" * 32),
    ],
)
def test_other_image_and_document_formats_are_rejected_naming_the_allowed_ones(
    name: str, data: bytes
) -> None:
    with pytest.raises(ImageRejected, match=f"{name} images are not accepted; {ALLOWED}") as exc:
        image_inspect(data, max_bytes=MB)
    assert exc.value.code == "unsupported_format"


@pytest.mark.parametrize(
    "data",
    [b"hello, world\n", b'{"image": "x"}', b"\0" * 100, b"RIFF\0\0\0\0AVI LIST", b"\xff\xd8"],
)
def test_unrecognised_data_is_rejected_naming_the_allowed_formats(data: bytes) -> None:
    with pytest.raises(ImageRejected, match=f"not a recognised image; {ALLOWED}") as excinfo:
        image_inspect(data, max_bytes=MB)
    assert excinfo.value.code == "unsupported_format"


def test_svg_named_png_is_still_rejected(tmp_path: Path) -> None:
    path = tmp_path / "logo.png"
    path.write_bytes(SVG)
    with pytest.raises(ImageRejected, match="SVG"):
        image_inspect(path, max_bytes=MB)


# --------------------------------------------------------------------------------------------
# Broken and animated images
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_truncated_images_are_rejected(image_format: str) -> None:
    data = _encode(_noise(256, 256), image_format)
    with pytest.raises(ImageRejected, match="corrupt or truncated") as excinfo:
        image_inspect(data[: len(data) // 2], max_bytes=MB)
    assert excinfo.value.code == "corrupt"


def test_png_header_without_image_data_is_rejected() -> None:
    with pytest.raises(ImageRejected, match="corrupt or truncated"):
        image_inspect(_png_header_only(10, 10), max_bytes=MB)


def test_jpeg_signature_followed_by_garbage_is_rejected() -> None:
    with pytest.raises(ImageRejected, match="corrupt or truncated"):
        image_inspect(b"\xff\xd8\xff\xe0" + b"garbage" * 50, max_bytes=MB)


@pytest.mark.parametrize("image_format", ["PNG", "WEBP"])
def test_animated_images_are_rejected(image_format: str) -> None:
    frames = [_noise(16, 16), Image.new("RGB", (16, 16), "red"), Image.new("RGB", (16, 16))]
    data = _encode(frames[0], image_format, save_all=True, append_images=frames[1:])
    with pytest.raises(ImageRejected, match=r"animated images are not accepted \(3 frames\)") as e:
        image_inspect(data, max_bytes=MB)
    assert e.value.code == "animated"


def test_webp_has_its_own_lower_pixel_cap(settings) -> None:
    import io as _io

    from PIL import Image as _Image

    from generation.images import ImageRejected as _Rejected
    from generation.images import image_inspect as _inspect

    settings.GENERATION_WEBP_MAX_PIXELS = 10_000
    buffer = _io.BytesIO()
    _Image.new("RGB", (200, 100), (10, 20, 30)).save(buffer, format="WEBP")
    with pytest.raises(_Rejected) as excinfo:
        _inspect(buffer.getvalue(), max_bytes=10**6)
    assert excinfo.value.code == "too_many_pixels"
    buffer = _io.BytesIO()
    _Image.new("RGB", (200, 100), (10, 20, 30)).save(buffer, format="PNG")
    assert _inspect(buffer.getvalue(), max_bytes=10**6).width == 200
