"""The local preview renderer, end to end: real PyAV encoding, outputs decoded back with PyAV."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from generation.providers.base import Completed, InputImage, ProviderFailed, RenderRequest
from generation.providers.local import (
    FPS,
    LocalProvider,
    add_h264_stream,
    frame_size,
    make_poster,
)

ONE_FRAME = 1 / FPS


def _request(**changes: object) -> RenderRequest:
    base = RenderRequest(
        job_id="job-1",
        prompt="A paper boat drifting down a rainy street, neon reflections",
        mode="text",
        model_tier="fast",
        aspect_ratio="16:9",
        resolution="720p",
        duration_seconds=1,
        seed=1234,
    )
    return replace(base, **changes)


def _render(request: RenderRequest, workdir: Path) -> tuple[Completed, list[float]]:
    calls: list[float] = []
    outcome = LocalProvider().submit(request, workdir=workdir, progress=calls.append)
    assert isinstance(outcome, Completed)
    return outcome, calls


def _test_image(width: int, height: int, variant: int = 0, fmt: str = "PNG") -> InputImage:
    """A picture with structure (gradient, blocks, a disc) so misplaced crops show up."""
    xs = np.linspace(0, 1, width)[None, :]
    ys = np.linspace(0, 1, height)[:, None]
    rgb = np.stack(
        np.broadcast_arrays(
            200 * xs + 30 * variant,
            180 * ys + 20,
            120 + 100 * xs * ys - 60 * variant,
        ),
        axis=-1,
    )
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.rectangle(
        (width * 0.1, height * 0.15, width * 0.35, height * 0.5),
        fill=(240, 220, 40) if variant == 0 else (20, 30, 200),
    )
    draw.ellipse(
        (width * 0.55, height * 0.35, width * 0.85, height * 0.9),
        fill=(220, 40, 60) if variant == 0 else (30, 200, 90),
    )
    draw.line((0, height - 1, width - 1, 0), fill=(255, 255, 255), width=max(3, width // 100))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return InputImage(
        data=buffer.getvalue(), mime_type=f"image/{fmt.lower()}", width=width, height=height
    )


def _covered(image: InputImage, width: int, height: int) -> np.ndarray:
    """What the frame should show: the image scaled to cover the frame, centre-cropped."""
    with Image.open(io.BytesIO(image.data)) as opened:
        fitted = ImageOps.fit(opened.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
    return np.asarray(fitted, dtype=np.int16)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [
            frame.to_ndarray(format="rgb24").astype(np.int16) for frame in container.decode(video=0)
        ]


def _checksums(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [
            hashlib.sha256(frame.to_ndarray().tobytes()).hexdigest()
            for frame in container.decode(video=0)
        ]


def _difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _probe(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        facts = {
            "format": container.format.name,
            "container_seconds": container.duration / av.time_base,
            "video_codec": video.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "video_seconds": float(video.duration * video.time_base),
            "rate": video.average_rate,
            "audio_codec": audio.codec_context.name,
            "audio_rate": audio.codec_context.sample_rate,
            "audio_seconds": float(audio.duration * audio.time_base),
        }
        facts["frames"] = sum(1 for _ in container.decode(video=0))
        container.seek(0)
        samples = [frame.to_ndarray() for frame in container.decode(audio=0)]
        facts["audio_rms"] = float(np.sqrt(np.mean(np.concatenate(samples, axis=1) ** 2)))
    return facts


def _assert_mp4(path: Path, *, width: int, height: int, seconds: float) -> None:
    facts = _probe(path)
    assert "mp4" in str(facts["format"])
    assert facts["video_codec"] == "h264"
    assert facts["pix_fmt"] == "yuv420p"
    assert facts["audio_codec"] == "aac"
    assert facts["audio_rate"] == 48_000
    assert (facts["width"], facts["height"]) == (width, height)
    assert facts["rate"] == Fraction(FPS)
    assert facts["frames"] == round(seconds * FPS)
    for key in ("container_seconds", "video_seconds", "audio_seconds"):
        assert abs(facts[key] - seconds) <= ONE_FRAME, (key, facts[key])
    assert facts["audio_rms"] > 0.005  # a soft tone, not silence


def _write_source_video(
    path: Path, *, width: int, height: int, rate: int, frame_count: int
) -> None:
    """A video made without the provider (other size and frame rate, no sound)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frame_count):
            pixels = np.zeros((height, width, 3), dtype=np.uint8)
            pixels[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
            pixels[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
            pixels[:, (index * 7) % width, :] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))


@pytest.mark.parametrize(
    ("resolution", "aspect_ratio", "seconds", "size"),
    [
        ("720p", "16:9", 4, (1280, 720)),
        ("720p", "9:16", 2, (720, 1280)),
        ("1080p", "16:9", 1, (1920, 1080)),
    ],
)
@pytest.mark.slow
def test_text_render_is_an_h264_aac_mp4_of_the_requested_size_and_exact_duration(
    tmp_path: Path, resolution: str, aspect_ratio: str, seconds: int, size: tuple[int, int]
) -> None:
    request = _request(resolution=resolution, aspect_ratio=aspect_ratio, duration_seconds=seconds)

    outcome, _ = _render(request, tmp_path)

    assert outcome.video_path == tmp_path / "video.mp4"
    assert (outcome.width, outcome.height) == size
    assert outcome.duration_seconds == seconds
    _assert_mp4(outcome.video_path, width=size[0], height=size[1], seconds=seconds)


@pytest.mark.parametrize(
    ("resolution", "aspect_ratio", "size"),
    [
        ("720p", "16:9", (1280, 720)),
        ("720p", "9:16", (720, 1280)),
        ("1080p", "16:9", (1920, 1080)),
        ("1080p", "9:16", (1080, 1920)),
        ("4k", "16:9", (3840, 2160)),
        ("4k", "9:16", (2160, 3840)),
    ],
)
def test_frame_size_follows_resolution_and_aspect_ratio(
    resolution: str, aspect_ratio: str, size: tuple[int, int]
) -> None:
    assert frame_size(resolution, aspect_ratio) == size


@pytest.mark.slow
def test_same_request_renders_identical_frames_and_seed_or_prompt_change_them(
    tmp_path: Path,
) -> None:
    first, _ = _render(_request(), tmp_path / "a")
    again, _ = _render(_request(), tmp_path / "b")
    other_seed, _ = _render(_request(seed=1235), tmp_path / "c")
    other_prompt, _ = _render(_request(prompt="A red kite over green hills"), tmp_path / "d")

    sums = _checksums(first.video_path)
    assert len(set(sums)) == len(sums)  # it moves: no two frames alike
    assert _checksums(again.video_path) == sums
    for changed in (other_seed, other_prompt):
        changed_sums = _checksums(changed.video_path)
        assert len(changed_sums) == len(sums)
        assert not set(changed_sums) & set(sums)
    assert _difference(_frames(first.video_path)[0], _frames(other_seed.video_path)[0]) > 5


@pytest.mark.slow
def test_progress_is_reported_often_and_ends_at_one(tmp_path: Path) -> None:
    _, calls = _render(_request(duration_seconds=4), tmp_path)

    assert len(calls) >= 20  # at least every 5% of the frames
    assert calls == sorted(calls)
    assert calls[-1] == 1.0
    assert all(0.0 <= fraction <= 1.0 for fraction in calls)


@pytest.mark.slow
def test_text_poster_is_a_jpeg_of_the_middle_frame(tmp_path: Path) -> None:
    outcome, _ = _render(_request(duration_seconds=2), tmp_path)

    assert outcome.poster_path == tmp_path / "poster.jpg"
    with Image.open(outcome.poster_path) as poster:
        assert poster.format == "JPEG"
        assert poster.size == (1280, 720)
        pixels = np.asarray(poster.convert("RGB"), dtype=np.int16)
    frames = _frames(outcome.video_path)
    assert _difference(pixels, frames[len(frames) // 2]) < 4
    assert _difference(pixels, frames[0]) > _difference(pixels, frames[len(frames) // 2])


@pytest.mark.slow
def test_image_mode_starts_on_the_image_and_then_moves(tmp_path: Path) -> None:
    image = _test_image(1600, 1000, fmt="JPEG")

    outcome, _ = _render(_request(mode="image", images=(image,), duration_seconds=2), tmp_path)

    _assert_mp4(outcome.video_path, width=1280, height=720, seconds=2)
    frames = _frames(outcome.video_path)
    expected = _covered(image, 1280, 720)
    assert _difference(frames[0], expected) < 5
    assert _difference(frames[-1], expected) > 3 * _difference(frames[0], expected)
    assert outcome.poster_path is not None
    with Image.open(outcome.poster_path) as poster:
        assert _difference(np.asarray(poster.convert("RGB")), expected) < 6


@pytest.mark.slow
def test_image_mode_covers_a_portrait_frame_with_a_landscape_image(tmp_path: Path) -> None:
    image = _test_image(1200, 800)

    outcome, _ = _render(_request(mode="image", images=(image,), aspect_ratio="9:16"), tmp_path)

    frames = _frames(outcome.video_path)
    assert frames[0].shape == (1280, 720, 3)
    assert _difference(frames[0], _covered(image, 720, 1280)) < 5


@pytest.mark.slow
def test_image_mode_shows_a_large_photo_upright_as_its_exif_orientation_says(
    tmp_path: Path,
) -> None:
    stored = _test_image(4000, 2500, fmt="JPEG")  # as a camera stores it: lying on its side
    with Image.open(io.BytesIO(stored.data)) as opened:
        exif = opened.getexif()
        exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
        buffer = io.BytesIO()
        opened.save(buffer, format="JPEG", exif=exif, quality=95)
    photo = InputImage(data=buffer.getvalue(), mime_type="image/jpeg", width=2500, height=4000)

    outcome, _ = _render(_request(mode="image", images=(photo,), aspect_ratio="9:16"), tmp_path)

    with Image.open(io.BytesIO(photo.data)) as opened:
        upright = ImageOps.exif_transpose(opened)
        expected = np.asarray(
            ImageOps.fit(upright.convert("RGB"), (720, 1280), Image.Resampling.LANCZOS),
            dtype=np.int16,
        )
    first = _frames(outcome.video_path)[0]
    assert _difference(first, expected) < 5
    assert _difference(first, _covered(stored, 720, 1280)) > 20  # not sideways


@pytest.mark.slow
def test_first_last_goes_from_the_first_image_to_the_last(tmp_path: Path) -> None:
    first, last = _test_image(1600, 900, variant=0), _test_image(900, 1400, variant=1)

    outcome, _ = _render(
        _request(mode="first_last", images=(first, last), duration_seconds=2), tmp_path
    )

    _assert_mp4(outcome.video_path, width=1280, height=720, seconds=2)
    frames = _frames(outcome.video_path)
    start, end = _covered(first, 1280, 720), _covered(last, 1280, 720)
    assert _difference(frames[0], start) < 5
    assert _difference(frames[-1], end) < 5
    assert _difference(frames[0], end) > 20  # the two images really differ
    middle = frames[len(frames) // 2]
    assert _difference(middle, start) > 8
    assert _difference(middle, end) > 8


@pytest.mark.slow
def test_reference_mode_is_coloured_and_composed_by_the_reference_images(tmp_path: Path) -> None:
    images = (
        _test_image(800, 800, variant=0),
        _test_image(600, 900, variant=1),
        _test_image(1000, 600, variant=0, fmt="WEBP"),
    )
    plain, _ = _render(_request(), tmp_path / "text")

    for count in (1, 3):
        outcome, _ = _render(
            _request(mode="reference", images=images[:count]), tmp_path / f"ref{count}"
        )
        _assert_mp4(outcome.video_path, width=1280, height=720, seconds=1)
        assert _difference(_frames(outcome.video_path)[0], _frames(plain.video_path)[0]) > 10


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Completed:
    """A 2-second 720p render that extend and upscale start from."""
    outcome, _ = _render(_request(duration_seconds=2, seed=99), tmp_path_factory.mktemp("source"))
    return outcome


@pytest.mark.slow
def test_extend_continues_from_the_last_frame_of_the_source(
    tmp_path: Path, source: Completed
) -> None:
    outcome, _ = _render(
        _request(mode="extend", source_video_path=str(source.video_path), duration_seconds=2),
        tmp_path / "extend",
    )

    _assert_mp4(outcome.video_path, width=1280, height=720, seconds=2)
    source_frames, frames = _frames(source.video_path), _frames(outcome.video_path)
    assert _difference(frames[0], source_frames[-1]) < 4
    assert _difference(frames[0], source_frames[0]) > _difference(frames[0], source_frames[-1])
    assert _difference(frames[-1], frames[0]) > 2  # the camera moves on


@pytest.mark.slow
def test_upscale_rescales_the_source_and_keeps_its_duration(
    tmp_path: Path, source: Completed
) -> None:
    outcome, _ = _render(
        _request(
            mode="upscale",
            resolution="1080p",
            duration_seconds=8,
            source_video_path=str(source.video_path),
        ),
        tmp_path / "upscale",
    )

    assert (outcome.width, outcome.height, outcome.duration_seconds) == (1920, 1080, 2)
    _assert_mp4(outcome.video_path, width=1920, height=1080, seconds=2)
    source_frames, frames = _frames(source.video_path), _frames(outcome.video_path)
    enlarged = [
        np.asarray(
            Image.fromarray(frame.astype(np.uint8)).resize((1920, 1080), Image.Resampling.BICUBIC),
            dtype=np.int16,
        )
        for frame in source_frames
    ]
    for index in (0, 24, 47):
        same_moment = _difference(frames[index], enlarged[index])
        assert same_moment < 1.5
        assert same_moment < _difference(frames[index], enlarged[index - 2])


@pytest.mark.slow
def test_upscale_resamples_another_frame_rate_and_adds_sound(tmp_path: Path) -> None:
    source_path = tmp_path / "thirty.mp4"
    _write_source_video(source_path, width=640, height=360, rate=30, frame_count=45)

    outcome, _ = _render(
        _request(mode="upscale", source_video_path=str(source_path)), tmp_path / "out"
    )

    _assert_mp4(outcome.video_path, width=1280, height=720, seconds=1.5)


@pytest.mark.slow
def test_upscale_crops_a_source_of_another_shape_instead_of_stretching_it(
    tmp_path: Path,
) -> None:
    source_path = tmp_path / "four-by-three.mp4"
    _write_source_video(source_path, width=640, height=480, rate=24, frame_count=24)

    outcome, _ = _render(
        _request(mode="upscale", source_video_path=str(source_path)), tmp_path / "out"
    )

    first = _frames(outcome.video_path)[0]
    source_first = Image.fromarray(_frames(source_path)[0].astype(np.uint8))
    covered = np.asarray(ImageOps.fit(source_first, (1280, 720)), dtype=np.int16)
    stretched = np.asarray(source_first.resize((1280, 720)), dtype=np.int16)
    assert _difference(first, covered) < 2
    assert _difference(first, stretched) > 3 * _difference(first, covered)


def test_make_poster_extracts_a_jpeg_from_any_mp4(tmp_path: Path) -> None:
    source_path = tmp_path / "thirty.mp4"
    _write_source_video(source_path, width=640, height=360, rate=30, frame_count=30)

    middle = make_poster(source_path, tmp_path / "middle.jpg")
    first = make_poster(source_path, tmp_path / "first.jpg", at_fraction=0.0)

    for poster, moving_line_at in ((middle, 15 * 7), (first, 0)):
        with Image.open(poster) as opened:
            assert opened.format == "JPEG"
            assert opened.size == (640, 360)
            pixels = np.asarray(opened.convert("L"), dtype=np.int16)
        assert abs(int(pixels[180, :].argmax()) - moving_line_at) <= 1


def test_make_poster_refuses_a_file_without_video(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")

    with pytest.raises(ProviderFailed, match=r"broken\.mp4"):
        make_poster(broken, tmp_path / "poster.jpg")


@pytest.mark.slow
def test_render_again_in_the_same_workdir_replaces_the_files(tmp_path: Path) -> None:
    _render(_request(seed=1), tmp_path)
    outcome, _ = _render(_request(seed=2), tmp_path)
    fresh, _ = _render(_request(seed=2), tmp_path / "fresh")

    assert _checksums(outcome.video_path) == _checksums(fresh.video_path)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "poster.jpg",
        "video.mp4",
    ]


@pytest.mark.slow
def test_baseline_stream_settings_match_the_renderer(tmp_path: Path) -> None:
    outcome, _ = _render(_request(), tmp_path)
    with av.open(str(tmp_path / "baseline.mp4"), "w") as container:
        stream = add_h264_stream(container, 1280, 720)
        options = dict(stream.codec_context.options)
        container.mux(stream.encode(None))
    with av.open(str(outcome.video_path)) as rendered:
        context = rendered.streams.video[0].codec_context
        assert context.colorspace == 1  # tagged BT.709, as converted
        assert context.color_range == 1
    assert options == {"preset": "veryfast", "crf": "23"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"resolution": "8k"}, "resolution"),
        ({"aspect_ratio": "auto"}, "aspect ratio"),
        ({"mode": "sketch"}, "mode"),
        ({"duration_seconds": 0}, "duration"),
        ({"mode": "image"}, "needs 1 image"),
        ({"mode": "first_last", "images": "one"}, "needs 2 image"),
        ({"mode": "image", "images": "broken"}, "could not be decoded"),
        ({"mode": "extend"}, "source video"),
        ({"mode": "upscale", "source_video_path": "/nonexistent/video.mp4"}, "source video"),
    ],
)
def test_unusable_requests_fail_with_a_clear_message(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    if changes.get("images") == "one":
        changes["images"] = (_test_image(64, 64),)
    elif changes.get("images") == "broken":
        changes["images"] = (
            InputImage(
                data=b"\x89PNG\r\n\x1a\nnot really", mime_type="image/png", width=64, height=64
            ),
        )

    with pytest.raises(ProviderFailed, match=message):
        _render(_request(**changes), tmp_path)


@pytest.mark.parametrize("mode", ["extend", "upscale"])
@pytest.mark.parametrize("damage", ["garbage", "headers only", "cut in half"])
def test_corrupt_source_video_fails_cleanly(
    tmp_path: Path, source: Completed, mode: str, damage: str
) -> None:
    damaged = tmp_path / "damaged.mp4"
    good = source.video_path.read_bytes()
    if damage == "garbage":
        damaged.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    elif damage == "headers only":
        damaged.write_bytes(good[:2000])
    else:
        damaged.write_bytes(good[: len(good) // 2])  # moov first (faststart), then half the media

    with pytest.raises(ProviderFailed, match="source video"):
        _render(_request(mode=mode, source_video_path=str(damaged)), tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
