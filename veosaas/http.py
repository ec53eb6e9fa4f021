"""HTTP helpers every app shares: the one public base URL and the one CSV streamer.

`public_url()` is the only place that decides how an absolute URL of this service is built,
inside a request or outside one (workers, beat, e-mails): PUBLIC_BASE_URL when set, else the
request's own host, else the local default (`DEFAULT_BASE_URL`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse

# Spreadsheets run cells starting with these as formulas (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or with ACCOUNTS_TRUSTED_PROXY_COUNT = N > 0 the Nth
    entry from the right of X-Forwarded-For (what the outermost trusted proxy saw)."""
    count = int(settings.ACCOUNTS_TRUSTED_PROXY_COUNT)
    if count > 0:
        forwarded = [
            a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()
        ]
        if len(forwarded) >= count:
            return forwarded[-count]
    return str(request.META.get("REMOTE_ADDR", ""))


def public_base_url(request: HttpRequest | None = None) -> str:
    """This service's base URL as clients call it, without a trailing slash."""
    if settings.PUBLIC_BASE_URL:
        return str(settings.PUBLIC_BASE_URL).rstrip("/")
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return str(settings.DEFAULT_BASE_URL).rstrip("/")


def public_url(path: str = "/", request: HttpRequest | None = None) -> str:
    """The absolute URL of `path` (which starts with "/") on this service."""
    return public_base_url(request) + path


class _Echo:
    """A file-like object whose write() returns the line, for csv.writer over a stream."""

    def write(self, value: str) -> str:
        return value


def csv_cell(value: object) -> object:
    """One cell made safe: text that a spreadsheet would run gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in _FORMULA_PREFIXES:
        return "'" + value
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


def csv_stream(
    *, filename: str, header: Iterable[str], rows: Iterable[Iterable[object]]
) -> StreamingHttpResponse:
    """A streamed CSV download (header, then one line per row, each cell made safe)."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(list(header))
        for row in rows:
            yield writer.writerow([csv_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
