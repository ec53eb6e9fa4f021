from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from django.db import connection, connections

from accounts.services import CreatedApiKey, api_key_create
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _fresh_file_cache() -> None:
    """Every test starts with an empty embedded (file) cache.

    Django's FileBasedCache evicts a random third of its entries on a write once it holds
    MAX_ENTRIES (300), so entries left by earlier tests made a test's own entries vanish at
    random, depending on test order. Redis evicts nothing here (keys are per test or deleted by
    the tests that share them) and may be shared with the broker, so it is left alone.
    """
    from django.core.cache import caches
    from django.core.cache.backends.filebased import FileBasedCache

    backend = caches["default"]
    if isinstance(backend, FileBasedCache):
        backend.clear()


@pytest.fixture
def user(db: None) -> Any:
    return UserFactory()


@pytest.fixture
def api_key(user: Any) -> CreatedApiKey:
    return api_key_create(user=user, name="test")


# The pre-rendered stand-in video: width, height, seconds.
TINY_WIDTH, TINY_HEIGHT, TINY_SECONDS = 64, 36, 0.5


def render_tiny_mp4(
    path: Path, *, width: int = TINY_WIDTH, height: int = TINY_HEIGHT, seconds: float = TINY_SECONDS
) -> Path:
    """Encode a real H.264 + AAC MP4 with PyAV: a colour ramp at 24 fps and silence."""
    fps, rate = 24, 48_000
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast"}
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for index in range(round(seconds * fps)):
            pixels = np.full((height, width, 3), (40, 90 + 6 * index, 160), dtype=np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(video.encode())
        samples = round(seconds * rate)
        for start in range(0, samples, 1024):
            silence = np.zeros((1, min(1024, samples - start)), dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(silence, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return path


@pytest.fixture(scope="session")
def tiny_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 0.5 s 64x36 H.264/AAC MP4 (about 3 KB), encoded once per session (per xdist
    worker). Stands in for a finished video where a test is about what happens around the
    video (records, links, callbacks, pages), not about its pixels."""
    return render_tiny_mp4(tmp_path_factory.mktemp("tiny") / "tiny.mp4")


@pytest.fixture
def finish_with_tiny_video(tiny_mp4: Path, tmp_path: Path) -> Callable[..., Any]:
    """Complete a queued job with `tiny_mp4` as its result through the real `job_succeed`
    (storage, poster, capture of the hold, status, terminal hooks), without the renderer.

    Returns the reloaded Job. Tests that prove rendering use the real provider instead.
    """
    from generation.models import Job
    from generation.providers.base import Completed
    from generation.services import job_succeed

    def finish(job: Any) -> Any:
        Job.objects.filter(pk=job.pk).update(state=Job.State.RUNNING)
        video = tmp_path / f"{job.pk}.mp4"
        shutil.copyfile(tiny_mp4, video)
        result = Completed(
            video_path=video,
            width=TINY_WIDTH,
            height=TINY_HEIGHT,
            duration_seconds=TINY_SECONDS,
        )
        assert job_succeed(job_id=job.pk, result=result, render_seconds=0.1)
        return Job.objects.get(pk=job.pk)

    return finish


@pytest.fixture
def require_postgres(db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")


def run_in_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    """Run target(i) in `count` real threads, each with its own database connection.

    All threads start together (a barrier) to maximise contention. Returns each thread's result
    or the exception it raised.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = target(index)
        except BaseException as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results
