"""Start-up configuration checks of veosaas/settings.py, each in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def import_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    clean.update(VAR_DIR=str(tmp_path), PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-c", "import veosaas.settings as s; print(len(s.SECRET_KEY))"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_start_up_fails_without_secret_key_when_debug_is_off(tmp_path: Path) -> None:
    result = import_settings(tmp_path, DEBUG="0")
    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured: SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_debug_without_secret_key_uses_a_local_key_kept_under_var(tmp_path: Path) -> None:
    first = import_settings(tmp_path, DEBUG="1")
    assert first.returncode == 0, first.stderr
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    assert import_settings(tmp_path, DEBUG="1").returncode == 0
    assert (tmp_path / "secret_key").read_text() == key


def test_secret_key_from_the_environment_is_used_as_is(tmp_path: Path) -> None:
    result = import_settings(tmp_path, DEBUG="0", SECRET_KEY="k" * 60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "60"
