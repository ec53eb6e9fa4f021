"""The product vocabulary: what we sell, named once.

Operations, model tiers, resolutions, durations and aspect ratios appear in prices, job rows,
every facade's validation and the dashboard's forms. They are defined here and nowhere else;
what a particular provider's models can do on top of this vocabulary is the provider catalog's
business (`generation.providers`).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Operation(models.TextChoices):
    GENERATE = "generate", _("Generate")
    EXTEND = "extend", _("Extend")
    UPGRADE_1080P = "upgrade_1080p", _("1080p upgrade")
    UPGRADE_4K = "upgrade_4k", _("4K upgrade")


class Tier(models.TextChoices):
    QUALITY = "quality", _("Quality")
    FAST = "fast", _("Fast")
    LITE = "lite", _("Lite")


class Resolution(models.TextChoices):
    P360 = "360p", "360p"
    P720 = "720p", "720p"
    P1080 = "1080p", "1080p"
    K4 = "4k", "4K"


TIERS: tuple[str, ...] = tuple(Tier.values)
RESOLUTIONS: tuple[str, ...] = tuple(Resolution.values)
# Every duration some model sells (Veo 3.1: 4/6/8 s; Omni: 3-15 s). What one model accepts is
# its provider catalog's business (generation/providers/catalog.py).
DURATIONS: tuple[int, ...] = tuple(range(3, 16))
ASPECT_RATIOS: tuple[str, ...] = ("16:9", "9:16")

DEFAULT_TIER = Tier.FAST.value
DEFAULT_RESOLUTION = Resolution.P720.value
DEFAULT_DURATION = 8
DEFAULT_ASPECT_RATIO = "16:9"

# Output frame size of each resolution in landscape (width, height); portrait swaps them.
FRAME_SIZES: dict[str, tuple[int, int]] = {
    Resolution.P360.value: (640, 360),
    Resolution.P720.value: (1280, 720),
    Resolution.P1080.value: (1920, 1080),
    Resolution.K4.value: (3840, 2160),
}

# The resolution an upgrade operation produces.
UPGRADE_RESOLUTIONS: dict[str, str] = {
    Operation.UPGRADE_1080P.value: Resolution.P1080.value,
    Operation.UPGRADE_4K.value: Resolution.K4.value,
}
