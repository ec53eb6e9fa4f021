"""Test settings: the real settings, with an isolated var/ directory and fast password hashing.

The database and broker come from the environment exactly as in production (DATABASE_URL,
CELERY_BROKER_URL, REDIS_URL), so `make test` runs on the embedded defaults and CI runs the
same suite against PostgreSQL and Redis.
"""

import os
from pathlib import Path

os.environ.setdefault("VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))

from veosaas.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
