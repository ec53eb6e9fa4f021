"""veosaas settings: one module, driven by environment variables.

Every variable read here is listed in `.env.example`. The embedded defaults need nothing
installed (SQLite, the kombu filesystem broker and local media, all under `var/`); production
sets DATABASE_URL, CELERY_BROKER_URL, REDIS_URL, storage and provider variables.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# ---------------------------------------------------------------------------------------------
# GENERAL
# ---------------------------------------------------------------------------------------------
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment; required unless DEBUG is on.

    Without it a server would sign sessions, password resets and CSRF tokens with a key nobody
    chose and nobody rotates, so start-up fails instead. With DEBUG on (local development) a key
    is generated once and kept under var/; `make run` and `make bench` pass the key kept in that
    same file, so the embedded local setup needs no configuration.
    """
    configured = env_str("SECRET_KEY")
    if configured:
        return configured
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: set it in the environment (production), or DEBUG=1 for local "
            "development (`make run` provides a local key)."
        )
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
# Absolute URLs in API responses and callbacks; falls back to the request\'s host, then this.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "").rstrip("/")
# Outside a request (workers, beat, e-mails) without PUBLIC_BASE_URL: DEFAULT_BASE_URL, which
# `make run` sets to the web's address for every process it starts (honcho gives each process
# its own PORT, so PORT alone would point workers at a port nobody listens on).
DEFAULT_BASE_URL = (
    env_str("DEFAULT_BASE_URL", "") or f"http://127.0.0.1:{env_int('PORT', 8000)}"
).rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI / Redoc files served locally (no CDN)
    "csp",
    "accounts",
    "billing",
    "generation",
    "outbound",
    "dashboard",
]

MIDDLEWARE = [
    # Outermost: a request id and one log line (and the HTTP metrics) for every request.
    "veosaas.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Answers CORS preflights for the codefast paths only (CODEFAST_CORS_ALLOWED_ORIGINS).
    "generation.facades.cors.CodefastCorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Session, login and messages step aside on API-key paths (veosaas.middleware).
    "veosaas.middleware.SessionOffApiMiddleware",
    # After sessions, before CommonMiddleware: picks the dashboard language (set_language cookie,
    # then Accept-Language). https://docs.djangoproject.com/en/5.2/topics/i18n/translation/
    "veosaas.middleware.DashboardLocaleMiddleware",
    # Pages render times in the visitor's chosen zone (cookie); day boundaries stay TIME_ZONE.
    "veosaas.middleware.DisplayTimeZoneMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Django's own (the deploy check asks for it by name); the API views are CSRF-exempt.
    "django.middleware.csrf.CsrfViewMiddleware",
    "veosaas.middleware.AuthenticationOffApiMiddleware",
    "veosaas.middleware.MessageOffApiMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-csp's, with key-API responses' policy built once (veosaas.middleware).
    "veosaas.middleware.ApiPolicyCSPMiddleware",
]

ROOT_URLCONF = "veosaas.urls"
WSGI_APPLICATION = "veosaas.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "dashboard.context_processors.time_zones",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# ---------------------------------------------------------------------------------------------
# DATABASES
# https://docs.djangoproject.com/en/5.2/ref/databases/#sqlite-notes
# ---------------------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file: WAL lets readers run beside a writer, and
    # IMMEDIATE transactions take the write lock at BEGIN, so a locked read-check-write inside
    # atomic() is serialised across processes (select_for_update is a no-op on SQLite).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# ---------------------------------------------------------------------------------------------
# CACHE — shared by every process (rate limits, short-lived state)
# ---------------------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    # Fail-soft backend (veosaas/cache.py) with short timeouts: a dead cache degrades to the
    # database within a second instead of holding web threads.
    CACHES = {
        "default": {
            "BACKEND": "veosaas.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 2.0},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# ---------------------------------------------------------------------------------------------
# CONTENT SECURITY POLICY — https://django-csp.readthedocs.io/en/latest/configuration.html
# Scripts only from this origin or with the request's nonce (`{{ request.csp_nonce }}` on an
# inline <script>); styles may be inline (Swagger UI and Redoc set them at run time). Every
# page carries it; the JSON APIs are unaffected by it.
# ---------------------------------------------------------------------------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    }
}

# ---------------------------------------------------------------------------------------------
# PASSWORDS / AUTH
# ---------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# ---------------------------------------------------------------------------------------------
# I18N
# ---------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
# THE business time zone: every day boundary (daily job limit, "used today" alerts, usage API
# days, the dashboard chart, the admin summary) is a midnight in this zone, and pages name it.
# Users may pick another zone to *display* times in (dashboard footer; a cookie).
TIME_ZONE = env_str("TIME_ZONE", "Europe/Istanbul")
USE_I18N = True
USE_TZ = True
# Dashboard languages. The compiled catalogs (locale/*/LC_MESSAGES/django.mo) are committed, so
# no GNU gettext is needed to run; `manage.py compiletranslations` rebuilds them in pure Python.
LANGUAGES = [("en", "English"), ("tr", "Türkçe"), ("nl", "Nederlands")]
LOCALE_PATHS = [BASE_DIR / "locale"]

# ---------------------------------------------------------------------------------------------
# DASHBOARD LOGIN AND EMAIL — https://docs.djangoproject.com/en/5.2/topics/email/
# ---------------------------------------------------------------------------------------------
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "dashboard:login"
# Console by default (password-reset mails are printed); set SMTP in production.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "veosaas <noreply@localhost>")
# Dashboard list pages: items per page.
DASHBOARD_PAGE_SIZE = env_int("DASHBOARD_PAGE_SIZE", 12)

# ---------------------------------------------------------------------------------------------
# STATIC AND MEDIA — https://whitenoise.readthedocs.io/ ; https://django-storages.readthedocs.io/
# ---------------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]  # dashboard CSS and scripts (no CDN)
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/files/"

STORAGE_BACKEND = env_str("STORAGE_BACKEND", "local")  # local | s3
_media_storage: dict[str, object]
if STORAGE_BACKEND == "s3":
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY") or None,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 600),
            "file_overwrite": False,
        },
    }
else:
    _media_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# ---------------------------------------------------------------------------------------------
# SECURITY — https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
# ---------------------------------------------------------------------------------------------
SECURE_HTTPS = env_bool("SECURE_HTTPS", False)  # set behind TLS in production
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = SECURE_HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SECURE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SESSION_COOKIE_SAMESITE = "Lax"

# Uploads are streamed to temporary files past this size, never held whole in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 80 * 1024 * 1024)

# ---------------------------------------------------------------------------------------------
# DJANGO REST FRAMEWORK
# ---------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        # JSON through the one strict parser (depth, NUL/surrogates, size): veosaas/strict.py.
        "veosaas.strict.StrictJSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "UNAUTHENTICATED_USER": None,
    # Describes the facade APIViews from one table, without touching their modules.
    "DEFAULT_SCHEMA_CLASS": "generation.openapi.FacadeAutoSchema",
}

# OpenAPI schema (/docs/openapi.json) and its viewers, served from local files.
# https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": "veosaas API",
    "DESCRIPTION": (
        "Three wire-compatible facades over one job and credit model: veo3o1 "
        "(`/api/...`, Bearer), veo3api.ai / kie.ai (`/api/v1/...`, Bearer) and codefast "
        "(`/`, `/generate`, `/status/{job_id}`, `/videos`, X-API-Key)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "generation.openapi.postprocess_schema",
    ],
}

# ---------------------------------------------------------------------------------------------
# CELERY — https://docs.celeryq.dev/en/stable/userguide/configuration.html
# ---------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
    # The filesystem transport has no fanout exchange for remote control or events.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
else:
    # Keep countdowns well below the visibility timeout (redelivery of unacked messages).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 900)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 960)
# Provider work, customer callbacks and maintenance on separate queues, so slow receivers or
# long renders never starve each other. Anything unrouted goes to "default".
CELERY_TASK_ROUTES: dict[str, dict[str, str]] = {
    # Polls of upstream operations are short HTTP calls: kept off the render queue so that a
    # backlog of polls never delays a render from starting.
    "generation.tasks.job_poll_task": {"queue": "default"},
    # Renders a finished job's callback body for outbound: never behind a render backlog.
    "generation.tasks.job_callback_schedule": {"queue": "callbacks"},
    "generation.tasks.job_*": {"queue": "generation"},
    # Everything sent to customer URLs (outbound/tasks.py: deliveries and their sweeper).
    "outbound.tasks.*": {"queue": "callbacks"},
}
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "generation-reap-jobs": {
        "task": "generation.tasks.jobs_reap_task",
        "schedule": float(env_int("GENERATION_REAPER_INTERVAL_SECONDS", 30)),
    },
    "generation-poll-upstream": {
        "task": "generation.tasks.jobs_poll_due_task",
        "schedule": float(env_int("GENERATION_POLL_TICK_SECONDS", 5)),
    },
    "billing-expire-stale-holds": {
        "task": "billing.tasks.holds_expire_stale_task",
        "schedule": 300.0,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# ---------------------------------------------------------------------------------------------
# ACCOUNTS
# ---------------------------------------------------------------------------------------------
# How often at most `ApiKey.last_used_at` is written (seconds).
ACCOUNTS_API_KEY_LAST_USED_RESOLUTION = 60
# Authenticated keys are read through the shared cache for this long; revocation and edits
# drop the entry at once, so this only bounds changes made behind the services' back.
ACCOUNTS_API_KEY_CACHE_SECONDS = env_int("ACCOUNTS_API_KEY_CACHE_SECONDS", 60)
# Login throttling (accounts/throttle.py): dashboard password and API-key logins, admin login.
ACCOUNTS_LOGIN_MAX_FAILURES = env_int("ACCOUNTS_LOGIN_MAX_FAILURES", 10)
ACCOUNTS_LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("ACCOUNTS_LOGIN_MAX_FAILURES_PER_ADDRESS", 100)
ACCOUNTS_LOGIN_WINDOW_SECONDS = env_int("ACCOUNTS_LOGIN_WINDOW_SECONDS", 900)
ACCOUNTS_LOGIN_LOCKOUT_SECONDS = env_int("ACCOUNTS_LOGIN_LOCKOUT_SECONDS", 900)
# How many reverse proxies in front of the app append to X-Forwarded-For. 0 (default): the
# client address is the connection's (REMOTE_ADDR). N: the Nth address from the right of
# X-Forwarded-For, the one the outermost trusted proxy saw. Used by per-key IP allow-lists
# and login throttling.
ACCOUNTS_TRUSTED_PROXY_COUNT = env_int("ACCOUNTS_TRUSTED_PROXY_COUNT", 0)
ACCOUNTS_DEMO_EMAIL = env_str("DEMO_EMAIL", "demo@example.com")
ACCOUNTS_DEMO_CREDITS = env_int("DEMO_CREDITS", 1000)

# ---------------------------------------------------------------------------------------------
# BILLING
# ---------------------------------------------------------------------------------------------
# Price of a video generated without audio, in percent of the audio price, when the price
# table has no silent row for it (Veo on Vertex bills about half without audio).
BILLING_SILENT_PRICE_PERCENT = env_int("BILLING_SILENT_PRICE_PERCENT", 100)
# A hold still open after this many seconds is expired (released) by the beat reaper.
BILLING_HOLD_TTL_SECONDS = env_int("BILLING_HOLD_TTL_SECONDS", 24 * 3600)
# Default prices in credits. Rows in the admin's price table override them.
# Key: (operation, model tier, resolution) -> (flat credits, credits per second of output).
BILLING_DEFAULT_PRICES: dict[str, dict[str, dict[str, tuple[int, int]]]] = {
    "generate": {
        # 360p exists on Gemini Omni only; the catalog refuses it for Veo and local.
        "quality": {"360p": (0, 10), "720p": (0, 30), "1080p": (0, 30), "4k": (0, 45)},
        "fast": {"360p": (0, 3), "720p": (0, 8), "1080p": (0, 10), "4k": (0, 24)},
        "lite": {"360p": (0, 2), "720p": (0, 5), "1080p": (0, 6), "4k": (0, 12)},
    },
    "extend": {
        "quality": {"720p": (0, 30)},
        "fast": {"720p": (0, 8)},
        "lite": {"720p": (0, 5)},
    },
    # Free by default: kie bundles the 1080p version with the task (GENERATION_AUTO_1080P).
    "upgrade_1080p": {
        "quality": {"1080p": (0, 0)},
        "fast": {"1080p": (0, 0)},
        "lite": {"1080p": (0, 0)},
    },
    "upgrade_4k": {
        "quality": {"4k": (120, 0)},
        "fast": {"4k": (120, 0)},
        "lite": {"4k": (120, 0)},
    },
}

# ---------------------------------------------------------------------------------------------
# VERTEX — Veo 3.1 GA on Vertex AI (generation/providers/vertex.py; model state checked
# 2026-12-07, see generation/providers/catalog.py). Express mode: VERTEX_API_KEY. Service
# account: GOOGLE_APPLICATION_CREDENTIALS + VERTEX_PROJECT (+ VERTEX_LOCATION).
# ---------------------------------------------------------------------------------------------
VERTEX_API_KEY = env_str("VERTEX_API_KEY", "")
VERTEX_PROJECT = env_str("VERTEX_PROJECT", "")
VERTEX_LOCATION = env_str("VERTEX_LOCATION", "us-central1")
# Empty means Google's endpoint; a proxy in production, tests/fake_vertex.py in tests.
VERTEX_BASE_URL = env_str("VERTEX_BASE_URL", "")
# Where Veo's gs:// outputs are read from (Cloud Storage JSON API); the fake in tests.
VERTEX_STORAGE_BASE_URL = env_str("VERTEX_STORAGE_BASE_URL", "https://storage.googleapis.com")
# Empty: videos come back inline (base64). Set (gs://bucket/prefix/) to have Veo write them
# to Cloud Storage; each is copied into our storage as soon as its operation is done.
VERTEX_OUTPUT_GCS_URI = env_str("VERTEX_OUTPUT_GCS_URI", "")
VERTEX_MODEL_QUALITY = env_str("VERTEX_MODEL_QUALITY", "veo-3.1-generate-001")
VERTEX_MODEL_FAST = env_str("VERTEX_MODEL_FAST", "veo-3.1-fast-generate-001")
VERTEX_MODEL_LITE = env_str("VERTEX_MODEL_LITE", "veo-3.1-lite-generate-001")
VERTEX_POLL_INTERVAL_SECONDS = env_int("VERTEX_POLL_INTERVAL_SECONDS", 10)
VERTEX_HTTP_TIMEOUT_SECONDS = env_int("VERTEX_HTTP_TIMEOUT_SECONDS", 60)

# ---------------------------------------------------------------------------------------------
# OMNI — Gemini Omni Flash on the Interactions API (generation/providers/omni.py)
# https://ai.google.dev/gemini-api/docs/omni
# ---------------------------------------------------------------------------------------------
OMNI_MODEL = env_str("OMNI_MODEL", "gemini-omni-1.2-flash")
# "gemini": the Gemini Developer API (GEMINI_API_KEY, GEMINI_BASE_URL); "vertex": Vertex AI
# with the VERTEX_* credentials above.
OMNI_SURFACE = env_str("OMNI_SURFACE", "gemini")
GEMINI_API_KEY = env_str("GEMINI_API_KEY", "")
# Empty means Google's endpoint; tests point it at tests/fake_interactions.py.
GEMINI_BASE_URL = env_str("GEMINI_BASE_URL", "")
# "inline" (base64 in the interaction) or "uri" (a file URI we download at once).
OMNI_DELIVERY = env_str("OMNI_DELIVERY", "inline")
OMNI_POLL_INTERVAL_SECONDS = env_int("OMNI_POLL_INTERVAL_SECONDS", 10)
OMNI_HTTP_TIMEOUT_SECONDS = env_int("OMNI_HTTP_TIMEOUT_SECONDS", 60)

# Upstream cost estimate per second of output, USD, by "model:resolution[:silent]" or "model"
# (a JSON object; ":silent" rows price a video without audio, else the audio rate applies).
# Re-checked 2026-12-07: Google's pricing pages could not be read, so every default is a
# third-party figure to verify: Veo 3.1 with audio and quality / fast silent rates from
# resellers quoting Google (OpenRouter pages, per-second official-tier resellers); lite 1080p
# from a page quoting ai.google.dev pricing (2026-04); Omni 1.1 from reseller per-second
# prices, Omni 1.2 = 1.1 less the reported 30 % (not confirmed by Google).
UPSTREAM_COST_PER_SECOND_USD: dict[str, float] = json.loads(
    env_str("UPSTREAM_COST_PER_SECOND_USD", "")
    or json.dumps(
        {
            "veo-3.1-generate-001:720p": 0.40,
            "veo-3.1-generate-001:1080p": 0.40,
            "veo-3.1-generate-001:4k": 0.60,
            "veo-3.1-generate-001:720p:silent": 0.20,
            "veo-3.1-generate-001:1080p:silent": 0.20,
            "veo-3.1-generate-001:4k:silent": 0.40,
            "veo-3.1-fast-generate-001:720p": 0.10,
            "veo-3.1-fast-generate-001:1080p": 0.12,
            "veo-3.1-fast-generate-001:4k": 0.30,
            "veo-3.1-fast-generate-001:720p:silent": 0.08,
            "veo-3.1-fast-generate-001:1080p:silent": 0.08,
            "veo-3.1-lite-generate-001": 0.05,
            "veo-3.1-lite-generate-001:1080p": 0.08,
            "gemini-omni-1.2-flash:360p": 0.021,
            "gemini-omni-1.2-flash:720p": 0.07,
            "gemini-omni-1.2-flash:1080p": 0.105,
            "gemini-omni-1.2-flash:4k": 0.21,
            "gemini-omni-1.1-flash:360p": 0.03,
            "gemini-omni-1.1-flash:720p": 0.10,
            "gemini-omni-1.1-flash:1080p": 0.15,
            "gemini-omni-1.1-flash:4k": 0.30,
        }
    )
)
# What one credit is worth in USD, for the admin's margin summary (revenue = credits charged x
# this). Match it to your credit packs.
BILLING_CREDIT_VALUE_USD = env_str("BILLING_CREDIT_VALUE_USD", "0.01")

# Upstream operations: past GENERATION_DEADLINE_SECONDS a job is not failed (Google may still
# finish and bill it) but reconciled with backoff, up to GENERATION_RECONCILE_SECONDS more;
# its hold is released only on a confirmed failure, cancellation or "not found".
GENERATION_DEADLINE_SECONDS = env_int("GENERATION_DEADLINE_SECONDS", 900)
# Capped so that a reconciled job's hold never reaches BILLING_HOLD_TTL_SECONDS (the hold
# reaper would release it while Google may still bill).
GENERATION_RECONCILE_SECONDS = min(
    env_int("GENERATION_RECONCILE_SECONDS", 20 * 3600),
    BILLING_HOLD_TTL_SECONDS - GENERATION_DEADLINE_SECONDS - 3600,
)
GENERATION_RECONCILE_MAX_INTERVAL_SECONDS = env_int(
    "GENERATION_RECONCILE_MAX_INTERVAL_SECONDS", 900
)

# ---------------------------------------------------------------------------------------------
# STRIPE TOP-UPS — https://docs.stripe.com/checkout/fulfillment ; https://docs.stripe.com/webhooks
# ---------------------------------------------------------------------------------------------
# Payments are on only when STRIPE_SECRET_KEY is set; without it the top-up API answers 503 and
# the pages say payments are not configured. billing/stripe_client.py is the only Stripe user.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
# Where the SDK sends API calls; tests and rehearsals point it at a local fake on 127.0.0.1.
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com").rstrip("/")
# Not read from the environment: tests may put an instance of `stripe.HTTPClient` here to fake
# Stripe at its HTTP boundary (see billing/stripe_client.py).
STRIPE_HTTP_CLIENT: object | None = None
# Free credits granted once per user at signup (billing.services.signup_grant); 0 turns it off.
# The default buys one default video (fast, 8 s, 720p = 64 credits) with some to spare.
BILLING_SIGNUP_GRANT_CREDITS = env_int("BILLING_SIGNUP_GRANT_CREDITS", 100)
# Usage alerts (billing/alerts.py): seconds before each retry of a failed email or webhook
# notification (1 attempt + one retry per entry), and the per-attempt webhook timeout.
BILLING_ALERT_RETRY_SCHEDULE = tuple(
    int(item) for item in env_list("BILLING_ALERT_RETRY_SCHEDULE", "30,120,600")
)
BILLING_ALERT_WEBHOOK_TIMEOUT_SECONDS = env_int("BILLING_ALERT_WEBHOOK_TIMEOUT_SECONDS", 15)

# ---------------------------------------------------------------------------------------------
# OUTGOING REQUESTS TO CUSTOMER URLS (outbound/netguard.py)
# ---------------------------------------------------------------------------------------------
# Development/tests only: also allow loopback and private-network destinations for callbacks
# and image URLs. Cloud metadata addresses stay blocked. See RELIABILITY.md W2.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
# One sweeper for every delivery (job callbacks and usage alerts, outbound/engine.py):
# re-enqueues deliveries whose message was lost.
CELERY_BEAT_SCHEDULE["outbound-deliveries-sweep"] = {
    "task": "outbound.tasks.deliveries_sweep_task",
    "schedule": 60.0,
}

# ---------------------------------------------------------------------------------------------
# GENERATION — jobs, providers, limits (generation/)
# ---------------------------------------------------------------------------------------------
# Provider per model tier: GENERATION_PROVIDER for all, or GENERATION_PROVIDER_<TIER> to override.
GENERATION_PROVIDER = env_str("GENERATION_PROVIDER", "local")
GENERATION_PROVIDERS_BY_TIER = {
    tier: env_str(f"GENERATION_PROVIDER_{tier.upper()}", GENERATION_PROVIDER)
    for tier in ("quality", "fast", "lite")
}
# When a job fails upstream (not a content block), run it once more on this provider.
GENERATION_FALLBACK_PROVIDER = env_str("GENERATION_FALLBACK_PROVIDER", "")
# The fallback chain, in order (e.g. "omni,vertex,local"): when a job fails upstream (never
# after a safety block or a cancel) the next provider not yet tried that accepts the job runs
# it; the job records each attempt. Defaults to GENERATION_FALLBACK_PROVIDER alone.
GENERATION_FALLBACK_PROVIDERS = [
    item for item in env_list("GENERATION_FALLBACK_PROVIDERS", GENERATION_FALLBACK_PROVIDER) if item
]
# Per tier: GENERATION_FALLBACK_PROVIDERS_QUALITY / _FAST / _LITE (default: the chain above).
GENERATION_FALLBACK_PROVIDERS_BY_TIER = {
    tier: env_list(f"GENERATION_FALLBACK_PROVIDERS_{tier.upper()}")
    for tier in ("quality", "fast", "lite")
}
# Upstream operation polls per minute across all workers (the provider project's quota).
GENERATION_POLL_BUDGET_PER_MINUTE = env_int("GENERATION_POLL_BUDGET_PER_MINUTE", 300)
# Generation requests per account in a sliding window (429 / 1003 beyond it).
GENERATION_RATE_LIMIT = env_int("GENERATION_RATE_LIMIT", 20)
GENERATION_RATE_WINDOW_SECONDS = env_int("GENERATION_RATE_WINDOW_SECONDS", 10)
# Jobs queued or running at once per account (429 / 1003 beyond it).
GENERATION_MAX_ACTIVE_JOBS = env_int("GENERATION_MAX_ACTIVE_JOBS", 10)
# A running job whose worker stops renewing its lease for this long is recovered by the reaper.
GENERATION_LEASE_SECONDS = env_int("GENERATION_LEASE_SECONDS", 120)
# A queued job not started after this long is re-enqueued (its message may have been lost).
GENERATION_REQUEUE_AFTER_SECONDS = env_int("GENERATION_REQUEUE_AFTER_SECONDS", 300)
GENERATION_MAX_ATTEMPTS = env_int("GENERATION_MAX_ATTEMPTS", 3)
GENERATION_REAPER_INTERVAL_SECONDS = env_int("GENERATION_REAPER_INTERVAL_SECONDS", 30)
# Status reads come from a snapshot in the shared cache, republished on every job change
# (generation/snapshots.py). These bound how long a snapshot lives: a queued or running job's
# (also how stale it can get if a worker dies between a change and its publication), and an
# ended job's.
GENERATION_STATUS_CACHE_SECONDS = env_int("GENERATION_STATUS_CACHE_SECONDS", 30)
GENERATION_STATUS_CACHE_FINAL_SECONDS = env_int("GENERATION_STATUS_CACHE_FINAL_SECONDS", 3600)
# Live status streams (SSE, generation/streams.py): a comment line every HEARTBEAT seconds, the
# longest a stream stays open (the client reconnects and resumes; no proxy holds forever), the
# reconnect delay advised to clients, and how often a stream re-reads the snapshot when no Redis
# subscription wakes it.
GENERATION_EVENTS_HEARTBEAT_SECONDS = env_int("GENERATION_EVENTS_HEARTBEAT_SECONDS", 15)
GENERATION_EVENTS_MAX_SECONDS = env_int("GENERATION_EVENTS_MAX_SECONDS", 600)
GENERATION_EVENTS_RETRY_MS = env_int("GENERATION_EVENTS_RETRY_MS", 3000)
GENERATION_EVENTS_POLL_SECONDS = float(env_str("GENERATION_EVENTS_POLL_SECONDS", "1") or 1)
# Input images: uploads (veo3o1: 50 MB), fetched URLs and base64 bodies (10 MB), pixel cap.
GENERATION_UPLOAD_MAX_BYTES = env_int("GENERATION_UPLOAD_MAX_BYTES", 50 * 1024 * 1024)
GENERATION_URL_IMAGE_MAX_BYTES = env_int("GENERATION_URL_IMAGE_MAX_BYTES", 10 * 1024 * 1024)
# Pixel caps bound decode memory: PNG ~4 bytes a pixel, WebP ~16 (so a lower cap).
GENERATION_IMAGE_MAX_PIXELS = env_int("GENERATION_IMAGE_MAX_PIXELS", 25_000_000)
GENERATION_WEBP_MAX_PIXELS = env_int("GENERATION_WEBP_MAX_PIXELS", 9_000_000)
GENERATION_PROMPT_MAX_CHARS = env_int("GENERATION_PROMPT_MAX_CHARS", 5000)
# Storage lifecycle (generation/services/storage.py, a beat task): days a result's files are
# kept after the job ended, per kind; 0 keeps them forever (the default for results: media URLs
# are promised permanent). Posters follow results unless set. Uploads no job uses are removed
# after STORAGE_RETENTION_UPLOADS_SECONDS (kie's File Upload API keeps its promised 3 days).
STORAGE_RETENTION_RESULTS_DAYS = env_int("STORAGE_RETENTION_RESULTS_DAYS", 0)
STORAGE_RETENTION_POSTERS_DAYS = env_int(
    "STORAGE_RETENTION_POSTERS_DAYS", STORAGE_RETENTION_RESULTS_DAYS
)
STORAGE_RETENTION_UPGRADES_DAYS = env_int("STORAGE_RETENTION_UPGRADES_DAYS", 0)
STORAGE_RETENTION_UPLOADS_SECONDS = env_int("STORAGE_RETENTION_UPLOADS_SECONDS", 24 * 3600)
# Stored files no row names are removed once older than this (never a file being written).
STORAGE_ORPHAN_MIN_AGE_SECONDS = env_int("STORAGE_ORPHAN_MIN_AGE_SECONDS", 6 * 3600)
# Files removed per kind per sweep run, and how often the sweep runs (seconds).
STORAGE_SWEEP_BATCH = env_int("STORAGE_SWEEP_BATCH", 500)
CELERY_BEAT_SCHEDULE["generation-storage-sweep"] = {
    "task": "generation.tasks.storage_sweep_task",
    "schedule": float(env_int("STORAGE_SWEEP_INTERVAL_SECONDS", 3600)),
}
# How results are served: "stream" from storage (Range support) or "redirect" to a fresh
# signed storage URL (S3). Default: stream for local files, redirect for S3.
MEDIA_DELIVERY = env_str("MEDIA_DELIVERY", "redirect" if STORAGE_BACKEND == "s3" else "stream")
# Test-only scripted provider ("scripted"): outcome succeed | fail | block | transient, and delay.
GENERATION_TEST_OUTCOME = env_str("GENERATION_TEST_OUTCOME", "succeed")
GENERATION_TEST_DELAY_SECONDS = float(env_str("GENERATION_TEST_DELAY_SECONDS", "0") or 0)
# Jobs per account per day where a facade enforces it (codefast); per-user override in the
# admin. The day ends at midnight in TIME_ZONE (the codefast panel's is Europe/Istanbul).
GENERATION_DAILY_LIMIT = env_int("GENERATION_DAILY_LIMIT", 20)
# veo3o1 has no model, duration or resolution parameters: these are what it gets.
VEO3O1_MODEL_TIER = env_str("VEO3O1_MODEL_TIER", "fast")
VEO3O1_DURATION_SECONDS = env_int("VEO3O1_DURATION_SECONDS", 8)
VEO3O1_RESOLUTION = env_str("VEO3O1_RESOLUTION", "720p")
# Mirror veo3o1 error codes as HTTP statuses (contracts A18); "0" answers every error with 200.
VEO3O1_HTTP_ERROR_STATUS = env_bool("VEO3O1_HTTP_ERROR_STATUS", True)

# ---------------------------------------------------------------------------------------------
# VEO3API / KIE FACADE, UPGRADES AND CALLBACKS (generation/facades/veo3api.py, upgrades.py,
# callbacks.py) — contracts/veo3api.md; retries per README A11; Standard Webhooks signing:
# https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
# ---------------------------------------------------------------------------------------------
# Seconds to wait before each retry of a failed callback: 1 attempt + one retry per entry.
GENERATION_CALLBACK_RETRY_SCHEDULE = tuple(
    int(item) for item in env_list("GENERATION_CALLBACK_RETRY_SCHEDULE", "60,300,900")
)
# Per-attempt limit for the whole POST (kie: receivers must answer within 15 s).
GENERATION_CALLBACK_TIMEOUT_SECONDS = env_int("GENERATION_CALLBACK_TIMEOUT_SECONDS", 15)
CELERY_BEAT_SCHEDULE["generation-callbacks-sweep"] = {
    "task": "generation.tasks.callbacks_sweep_due_task",
    "schedule": 60.0,
}
# 1080p / 4K upgrades re-encode the source video; Veo cannot raise the resolution of an
# existing video, so they run on this provider whatever the model tier's provider is.
GENERATION_UPSCALE_PROVIDER = env_str("GENERATION_UPSCALE_PROVIDER", "local")
# kie answers get-1080p-video with the URL on the first call: prepare the 1080p version of a
# veo3api/kie 16:9 720p task as soon as it succeeds (priced `upgrade_1080p`, 0 by default as
# kie bundles it). A get-1080p-video call for a prepared upgrade still rendering waits up to
# GENERATION_AUTO_1080P_WAIT_SECONDS for it before answering "1080P is processing".
GENERATION_AUTO_1080P = env_bool("GENERATION_AUTO_1080P", True)
GENERATION_AUTO_1080P_WAIT_SECONDS = float(env_str("GENERATION_AUTO_1080P_WAIT_SECONDS", "20") or 0)
# veo3api.ai defaults `model` to veo3 (quality); a kie-branded deployment may set veo3_fast (A3).
VEO3API_DEFAULT_MODEL = env_str("VEO3API_DEFAULT_MODEL", "veo3")
# "1" (default): the body code is also the HTTP status (401, 402, 422, 429, 503, ...), so
# clients such as kie-cli see a failure as one. "0" mirrors the vendor exactly: errors in HTTP
# 200 bodies (README A1).
VEO3API_HTTP_ERROR_STATUS = env_bool("VEO3API_HTTP_ERROR_STATUS", True)
# kie File Upload API: images only (they feed imageUrls, max 10 MB per the veo3api overview).
VEO3API_UPLOAD_MAX_BYTES = env_int("VEO3API_UPLOAD_MAX_BYTES", 10 * 1024 * 1024)

# ---------------------------------------------------------------------------------------------
# CODEFAST FACADE — contracts/codefast.md (X-API-Key, flat JSON, daily limits, queue positions)
# ---------------------------------------------------------------------------------------------
# codefast requests carry no model or resolution: these are what its jobs get.
CODEFAST_MODEL_TIER = env_str("CODEFAST_MODEL_TIER", "fast")
CODEFAST_RESOLUTION = env_str("CODEFAST_RESOLUTION", "720p")
# Zone of the DD.MM.YYYY HH:MM:SS times in responses (the daily limit resets at midnight in
# TIME_ZONE; by default both are Europe/Istanbul, contracts A23).
CODEFAST_TIME_ZONE = env_str("CODEFAST_TIME_ZONE", "") or TIME_ZONE
# Cap on the decoded size of the base64 `image` field (contracts: 10 MB).
CODEFAST_IMAGE_MAX_BYTES = env_int("CODEFAST_IMAGE_MAX_BYTES", 10 * 1024 * 1024)
# Browser origins allowed to call the codefast paths (comma-separated, "*" = any). The key is
# a header, never a cookie, so no credentials are involved and "*" exposes nothing: a page can
# only use a key its user typed in. https://fetch.spec.whatwg.org/#http-cors-protocol
CODEFAST_CORS_ALLOWED_ORIGINS = env_list("CODEFAST_CORS_ALLOWED_ORIGINS", "*")
# Queue positions are exact counts while at most this many jobs are queued; beyond it they
# come from a shared snapshot of the queue at most CODEFAST_QUEUE_SNAPSHOT_SECONDS old,
# corrected by exact counts around the job (see generation.selectors.job_queue_place).
CODEFAST_QUEUE_EXACT_MAX = env_int("CODEFAST_QUEUE_EXACT_MAX", 2000)
CODEFAST_QUEUE_SNAPSHOT_SECONDS = float(env_str("CODEFAST_QUEUE_SNAPSHOT_SECONDS", "2") or 2)

# ---------------------------------------------------------------------------------------------
# LOGGING — one line per event; JSON in production, readable text under `make run`.
# Every line carries the request id (and account, key and job ids when known), also in Celery
# workers: veosaas/logcontext.py. https://docs.djangoproject.com/en/5.2/topics/logging/
# ---------------------------------------------------------------------------------------------
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json")  # json | text
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "veosaas.logcontext.LogContextFilter"}},
    "formatters": {
        "json": {"()": "veosaas.logcontext.JsonFormatter"},
        "text": {
            "()": "veosaas.logcontext.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Our own request line replaces Django's (which has no ids and logs 4xx as warnings).
    "loggers": {"django.server": {"level": "WARNING"}},
}

# ---------------------------------------------------------------------------------------------
# METRICS — Prometheus at /metrics (veosaas/metrics.py, veosaas/metrics_view.py)
# https://prometheus.github.io/client_python/multiprocess/
# ---------------------------------------------------------------------------------------------
METRICS_ENABLED = env_bool("METRICS_ENABLED", False)
# Bearer token a scraper must send. Empty: only direct loopback requests (no proxy headers).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# A Celery worker on a machine without a web process serves its metrics on this port (0: off).
METRICS_WORKER_PORT = env_int("METRICS_WORKER_PORT", 0)
METRICS_WORKER_ADDR = env_str("METRICS_WORKER_ADDR", "127.0.0.1")
# Every process of a machine writes its samples here (prometheus-client's multiprocess mode);
# it must exist and be emptied when the machine starts. Default: var/metrics.
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "")
if METRICS_ENABLED:
    if not PROMETHEUS_MULTIPROC_DIR:
        PROMETHEUS_MULTIPROC_DIR = str(VAR_DIR / "metrics")
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
    # Read by prometheus_client when it is first imported (after settings).
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR

# ---------------------------------------------------------------------------------------------
# ERROR REPORTING — optional Sentry (veosaas/sentry.py); off unless SENTRY_DSN is set.
# https://docs.sentry.io/platforms/python/integrations/django/
# ---------------------------------------------------------------------------------------------
SENTRY_DSN = env_str("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", "production")
SENTRY_TRACES_SAMPLE_RATE = float(env_str("SENTRY_TRACES_SAMPLE_RATE", "0") or 0)
# Field names whose values are replaced before an event leaves (prompts, keys, secrets).
# An empty value keeps the default list (never "scrub nothing").
SENTRY_SCRUB_FIELDS = env_list("SENTRY_SCRUB_FIELDS") or [
    "prompt",
    "negative_prompt",
    "negativePrompt",
    "authorization",
    "x-api-key",
    "api_key",
    "token",
    "secret",
    "password",
    "webhook_secret",
    "callback_url",
    "callBackUrl",
    "stripe-signature",
]
if SENTRY_DSN:
    from veosaas.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
        scrub_fields=SENTRY_SCRUB_FIELDS,
    )
