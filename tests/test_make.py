"""The operator interface: `make run` installs the server alone and gives every process it
starts one base URL; `make test` adds the dev extras."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Packages of the `dev` extra the server must run without.
DEV_ONLY = ("pytest", "playwright", "moto", "hypothesis", "factory", "time_machine", "polib")


def _dry_run(target: str) -> str:
    # -B: as on a fresh clone, every stamp out of date; -n: print the recipes, run nothing.
    result = subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout


def test_make_run_installs_runtime_dependencies_only() -> None:
    installs = [line for line in _dry_run("run").splitlines() if "pip install" in line]
    assert any(line.rstrip().endswith("-e .") for line in installs), installs
    assert not any("[dev]" in line for line in installs), installs


def test_make_test_adds_the_dev_extras() -> None:
    assert "-e '.[dev]'" in _dry_run("test")


def test_server_starts_without_any_dev_package(tmp_path: Path) -> None:
    blocker = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {DEV_ONLY!r}:\n"
        "            raise ImportError('dev-only package imported: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    (tmp_path / "sitecustomize.py").write_text(blocker)
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
        "DJANGO_SETTINGS_MODULE": "veosaas.settings",
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    env.pop("CELERY_BROKER_URL", None)
    env.pop("REDIS_URL", None)
    script = (
        "import django; django.setup()\n"
        "import importlib, pkgutil\n"
        "for app in ('veosaas', 'accounts', 'outbound', 'billing', 'generation', 'dashboard'):\n"
        "    pkg = importlib.import_module(app)\n"
        "    for info in pkgutil.walk_packages(pkg.__path__, app + '.'):\n"
        "        if '.management.commands.' not in info.name and '.migrations' not in info.name:\n"
        "            importlib.import_module(info.name)\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
        "call_command('check')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_worker_under_make_run_builds_the_url_the_web_answers_with(tmp_path: Path) -> None:
    """honcho gives each process its own PORT; the worker's links must still name the web's."""
    port = free_port()
    run_env = tmp_path / "make-run.env"
    subprocess.run(
        ["make", "-s", "run-env", f"PORT={port}", f"RUN_ENV={run_env}"], cwd=ROOT, check=True
    )
    # An operator's .env copied from .env.example (empty values) must not undo it.
    (tmp_path / ".env").write_text("PUBLIC_BASE_URL=\nDEFAULT_BASE_URL=\n")
    out = tmp_path / "worker-url.txt"
    (tmp_path / "Procfile").write_text(
        f"web: {BIN / 'gunicorn'} veosaas.wsgi --bind 127.0.0.1:$PORT --workers 1\n"
        f'worker: {sys.executable} -c "import django; django.setup(); '
        "from veosaas.http import public_url; "
        f"open('{out}', 'w').write(public_url('/'))\" && sleep 120\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "veosaas.settings",
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    for name in ("PUBLIC_BASE_URL", "DEFAULT_BASE_URL", "PORT"):
        env.pop(name, None)
    # The Makefile's own honcho line, with the test Procfile in place of the real one.
    recipe = next(line for line in _dry_run("run").splitlines() if "honcho start" in line)
    env_arg = re.search(r"--env (\S+)", recipe)
    assert env_arg is not None, recipe
    env_files = env_arg.group(1).replace(".env", str(tmp_path / ".env"), 1)
    env_files = env_files.replace("var/make-run.env", str(run_env))
    proc = subprocess.Popen(
        [
            str(BIN / "honcho"),
            *("start", "-f", str(tmp_path / "Procfile"), "-d", str(ROOT)),
            *("--env", env_files, "--port", str(port), "web", "worker"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        web_url = None
        while time.monotonic() < deadline and (web_url is None or not out.exists()):
            try:
                page = requests.get(f"http://127.0.0.1:{port}/docs/", timeout=10).text
                match = re.search(r'<code id="base-url">([^<]+)</code>', page)
                web_url = match.group(1) if match else None
            except requests.RequestException:
                pass
            time.sleep(0.3)
        assert web_url == f"http://127.0.0.1:{port}"
        assert out.read_text().rstrip("/") == web_url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
