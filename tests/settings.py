"""Test settings: the real settings, with an isolated var/ directory and fast password hashing.

The database and broker come from the environment exactly as in production (DATABASE_URL,
CELERY_BROKER_URL, REDIS_URL), so `make test` runs on the embedded defaults and CI runs the
same suite against PostgreSQL and Redis.

Under pytest-xdist every worker (gw0, gw1, ...) gets its own world, set in the environment
before the real settings read it, so that the web and worker processes end-to-end tests start
(tests/processes.py, which pass the environment on) share it with their worker and with no one
else: var/test/<worker>/ (SQLite files, filesystem broker, file cache, media) and, when the
broker or cache is Redis, database number (n - worker index) mod 16 of the configured URL's n
(gw0 keeps n; CI flushes the few it uses). PostgreSQL test databases get a per-worker suffix
from pytest-django.
"""

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _worker_redis_url(url: str, index: int) -> str:
    """`url` with its database number moved down by `index` (mod 16); non-Redis URLs as is."""
    match = re.fullmatch(r"(rediss?://[^/?#]*)(?:/(\d*))?([?#].*)?", url)
    if not match or index == 0:
        return url
    db = (int(match.group(2) or 0) - index) % 16
    return f"{match.group(1)}/{db}{match.group(3) or ''}"


def _isolate_xdist_worker() -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    # Once per worker: subprocesses that import these settings inherit the adjusted environment.
    if not worker or os.environ.get("VEOSAAS_TEST_WORKER") == worker:
        return
    os.environ["VEOSAAS_TEST_WORKER"] = worker
    base = Path(os.environ.get("VAR_DIR") or ROOT / "var" / "test")
    os.environ["VAR_DIR"] = str(base / worker)
    index = int(worker.removeprefix("gw") or 0)
    for name in ("CELERY_BROKER_URL", "REDIS_URL"):
        if os.environ.get(name):
            os.environ[name] = _worker_redis_url(os.environ[name], index)


_isolate_xdist_worker()
os.environ.setdefault("VAR_DIR", str(ROOT / "var" / "test"))
# The real settings refuse to start without a key unless DEBUG is on; tests run with DEBUG off.
os.environ.setdefault("SECRET_KEY", "insecure-test-key-only-for-the-test-suite-0123456789")

from veosaas.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
