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

from collections.abc import Iterable
from pathlib import Path

import av

from generation.providers.base import (
    Completed,
    ProgressFn,
    ProviderFailed,
    RenderRequest,
    VideoProvider,
)
from generation.providers.local.encode import (
    FPS,
    SAMPLES_PER_FRAME,
    _chord,
    _Dice,
    _encode,
    _Sound,
    frame_size,
)
from generation.providers.local.motion import (
    _ZOOM,
    _decode_image,
    _ken_burns,
    _last_frame,
    _require_images,
    _rescaled,
    _source_frame_count,
    _source_path,
    _source_sound,
    _transition,
)
from generation.providers.local.text import _card_side, _TextScene

VIDEO_FILENAME = "video.mp4"
POSTER_FILENAME = "poster.jpg"
MODES = ("text", "image", "first_last", "reference", "extend", "upscale")


class LocalProvider(VideoProvider):
    """The embedded preview renderer; finishes inside `submit`."""

    name = "local"
    in_process = True

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
