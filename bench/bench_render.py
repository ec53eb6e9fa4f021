"""Local preview renderer: full render throughput against pure PyAV encoding of the same frames.

Rows "local render 8s 720p" and "local render 8s 1080p" (text mode, 16:9, 192 frames):
- value: frames per second of a whole `LocalProvider.submit` (texture set-up, frame synthesis,
  audio, poster, faststart rewrite);
- baseline: frames per second of PyAV encoding the same number of frames with the renderer's
  own settings (`add_h264_stream`, `MP4_OPTIONS`). The frames are made before timing: the
  render's own output decoded to yuv420p arrays, so x264 sees the same content in both runs;
- ratio: value / baseline; the goal is that rendering costs little beyond encoding.

The machine may be shared, so runs alternate and the best of `REPEATS` counts on each side.
The note adds the ratio of process CPU time (all threads), which other load disturbs less.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from generation.providers.base import RenderRequest
from generation.providers.local import (
    FPS,
    MP4_OPTIONS,
    LocalProvider,
    add_h264_stream,
    frame_size,
)

REPEATS = 5
SECONDS = 8
RESOLUTIONS = ("720p", "1080p")


def run() -> list[dict]:
    var_dir = Path(os.environ.get("VAR_DIR", "var/bench"))
    var_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-render-", dir=var_dir) as scratch:
        for resolution in RESOLUTIONS:
            rows.append(_measure(resolution, Path(scratch) / resolution))
    return rows


def _measure(resolution: str, workdir: Path) -> dict:
    request = RenderRequest(
        job_id="bench",
        prompt="A lighthouse on a cliff at dusk, waves crashing, slow drone shot",
        mode="text",
        model_tier="fast",
        aspect_ratio="16:9",
        resolution=resolution,
        duration_seconds=SECONDS,
        seed=20240611,
    )
    width, height = frame_size(resolution, "16:9")
    warm = _render(request, workdir / "warm-up")
    frames = _decoded(warm)
    render_runs, encode_runs = [], []
    for attempt in range(REPEATS):
        wall, cpu = _clocks()
        _render(request, workdir / f"render-{attempt}")
        render_runs.append(_since(wall, cpu))
        wall, cpu = _clocks()
        _encode(frames, width, height, workdir / f"baseline-{attempt}.mp4")
        encode_runs.append(_since(wall, cpu))
    value = len(frames) / min(wall for wall, _ in render_runs)
    baseline = len(frames) / min(wall for wall, _ in encode_runs)
    cpu_ratio = min(cpu for _, cpu in encode_runs) / min(cpu for _, cpu in render_runs)
    return {
        "name": f"local render {SECONDS}s {resolution}",
        "value": value,
        "unit": "frames/s",
        "baseline": baseline,
        "ratio": value / baseline,
        "goal": "≥ 0.8",
        "note": f"text mode, {len(frames)} frames, best of {REPEATS}; CPU-time ratio "
        f"{cpu_ratio:.2f}; baseline: PyAV encoding pre-made frames, same x264 settings",
    }


def _clocks() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), usage.ru_utime + usage.ru_stime


def _since(wall: float, cpu: float) -> tuple[float, float]:
    now_wall, now_cpu = _clocks()
    return now_wall - wall, now_cpu - cpu


def _render(request: RenderRequest, workdir: Path) -> Path:
    outcome = LocalProvider().submit(request, workdir=workdir, progress=lambda fraction: None)
    return outcome.video_path


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray() for frame in container.decode(video=0)]


def _encode(frames: list[np.ndarray], width: int, height: int, path: Path) -> None:
    with av.open(str(path), "w", format="mp4", options=MP4_OPTIONS) as container:
        stream = add_h264_stream(container, width, height)
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
