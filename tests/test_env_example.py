"""Every environment variable the settings read is listed in .env.example."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_env_example_lists_every_variable() -> None:
    settings_source = (ROOT / "veosaas" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|int|bool|list)\(\s*"([A-Z][A-Z0-9_]+)"', settings_source))
    read |= {f"GENERATION_PROVIDER_{tier}" for tier in ("QUALITY", "FAST", "LITE")}
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read - listed == set()
