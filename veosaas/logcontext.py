"""Ids that follow one request through every log line, task and callback attempt.

The web middleware (veosaas.middleware.RequestContextMiddleware) binds a request id (the
caller's `X-Request-Id` when it is well formed, else a new one) and, as they become known, the
account, API key and job. Celery carries the request id and job id in task message headers
(veosaas.celery), so a worker's log lines and the callback attempts it records name the same
request. `LogContextFilter` copies the ids onto every log record; `JsonFormatter` writes one
JSON object a line (LOG_FORMAT=json, the production default), the text format adds the ids in
brackets (LOG_FORMAT=text, under `make run`).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

FIELDS = ("request_id", "account_id", "key_id", "job_id")
_context: ContextVar[dict[str, str] | None] = ContextVar("veosaas_log_context", default=None)
# Accepted from callers: what proxies and clients commonly send (uuids, hex, ULIDs, dashes).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def request_id_accept(value: str | None) -> str:
    """The caller's request id when it is well formed, otherwise a new one (uuid4 hex)."""
    if value and _REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


def reset(**values: object) -> None:
    """Start a fresh context (a new request or task) holding `values`."""
    _context.set({})
    bind(**values)


def bind(**values: object) -> None:
    """Add ids to the current context (None and empty values are ignored)."""
    current = dict(_context.get() or {})
    for name, value in values.items():
        if name not in FIELDS:
            raise ValueError(f"unknown log context field {name!r}")
        if value not in (None, ""):
            current[name] = str(value)
    _context.set(current)


def get(name: str) -> str:
    """One id of the current context ("" when unset)."""
    return (_context.get() or {}).get(name, "")


def snapshot() -> dict[str, str]:
    return dict(_context.get() or {})


class LogContextFilter(logging.Filter):
    """Puts the context's ids on every record (as attributes, "" when unset)."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _context.get() or {}
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, current.get(name, ""))
        return True


# Attributes every LogRecord has; anything else passed through `extra=` is a field of the line.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the context ids, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            if key in FIELDS and not value:
                continue
            line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """The human-readable line, with the ids that are set in brackets."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(
            f"{name}={getattr(record, name)}" for name in FIELDS if getattr(record, name, "")
        )
        return f"{text} [{ids}]" if ids else text
