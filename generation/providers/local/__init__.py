"""The `local` provider: the embedded CPU preview renderer (see provider.py).

Modules: provider.py (the `LocalProvider` and its modes), encode.py (encoder settings, the
muxing loop, the placeholder sound, shared helpers), text.py ("text"/"reference" scenes),
motion.py (image, first_last, extend and upscale). Posters are generation/media.py's.
"""

from __future__ import annotations

from generation.media import make_poster
from generation.providers.local.encode import (
    AUDIO_RATE,
    FPS,
    MP4_OPTIONS,
    SAMPLES_PER_FRAME,
    X264_OPTIONS,
    add_h264_stream,
    frame_size,
)
from generation.providers.local.provider import (
    MODES,
    POSTER_FILENAME,
    VIDEO_FILENAME,
    LocalProvider,
)

__all__ = [
    "AUDIO_RATE",
    "FPS",
    "MODES",
    "MP4_OPTIONS",
    "POSTER_FILENAME",
    "SAMPLES_PER_FRAME",
    "VIDEO_FILENAME",
    "X264_OPTIONS",
    "LocalProvider",
    "add_h264_stream",
    "frame_size",
    "make_poster",
]
