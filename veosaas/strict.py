"""Strict input parsing shared by every API: JSON bodies, strings, integers, request limits.

Bad input is refused at the edge, in the answering facade's own format, before anything is
written: PostgreSQL cannot store NUL characters or unpaired surrogates, Python's `int()`
accepts "²", "①" and "--8"-like surprises through `isdigit()`, deeply nested JSON exhausts
the recursion limit, and Django's request limits (DATA_UPLOAD_MAX_*) raise exceptions that
would otherwise end as a 500 or Django's HTML 400. Every facade parses through here (via
generation/facades/common.py); DRF uses `StrictJSONParser` for every JSON body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser

MAX_JSON_DEPTH = 32
MAX_INT_DIGITS = 18  # within a signed 64-bit column
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_INT = re.compile(rf"[+-]?[0-9]{{1,{MAX_INT_DIGITS}}}")
# A JSON string literal (escapes included), then any bracket: what a depth scan needs.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


class FieldError(Exception):
    """One field of the input is unacceptable; each facade renders it in its own envelope."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.message = message


class BodyTooLarge(APIException):
    status_code = 413
    default_detail = "body is too large"
    default_code = "body_too_large"


class TooManyParts(APIException):
    status_code = 400
    default_detail = "body has too many fields or files"
    default_code = "too_many_parts"


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text (NUL or an unpaired surrogate), or None."""
    match = _BAD_TEXT.search(value)
    if match is None:
        return None
    if match.group() == "\x00":
        return "must not contain NUL characters"
    return "must not contain unpaired surrogates (invalid Unicode)"


def text_check(field: str, value: str) -> str:
    """`value` unchanged, or FieldError when it cannot be stored as text."""
    problem = text_problem(value)
    if problem:
        raise FieldError(field, problem)
    return value


def text_clean(value: str) -> str:
    """`value` without the characters text columns cannot hold (for names we only echo)."""
    return _BAD_TEXT.sub("", value)


def int_parse(value: str) -> int | None:
    """A base-10 integer written with ASCII digits (an optional sign, at most 18 digits,
    surrounding spaces allowed), or None. Never `isdigit()`, which accepts "²" and "①"."""
    text = value.strip()
    if not _INT.fullmatch(text):
        return None
    return int(text)


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text` (strings skipped), without recursion."""
    depth = deepest = 0
    for match in _JSON_TOKEN.finditer(text):
        lexeme = match.group()
        if lexeme in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif lexeme in ("]", "}"):
            depth -= 1
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _walk(value: Any, path: str) -> None:
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise FieldError(where, problem)
        elif isinstance(item, dict):
            for key, child in item.items():
                problem = text_problem(key)
                if problem:
                    raise FieldError(where, f"has a key that {problem.replace('must', 'does')}")
                stack.append((child, f"{where}.{key}" if where != "body" else key))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))


def json_loads(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON document strictly: UTF-8, no NaN/Infinity, at most `max_depth` levels,
    no NUL or unpaired surrogate in any string or key. Raises ParseError (not JSON) or
    FieldError (JSON, but with text we refuse)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise ParseError("body is not valid UTF-8") from exc
    if json_depth(text) > max_depth:
        raise ParseError(f"body is nested deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ParseError("body is not valid JSON") from exc
    _walk(value, "body")
    return value


class StrictJSONParser(BaseParser):
    """DRF's JSON parser, through `json_loads`, reading at most DATA_UPLOAD_MAX_MEMORY_SIZE."""

    media_type = "application/json"

    def parse(
        self,
        stream: IO[bytes] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        if stream is None:
            raise ParseError("body is empty")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise BodyTooLarge()
        return json_loads(raw)


def request_error_translate(exc: Exception) -> Exception:
    """Django's request-limit exceptions (and a stray RecursionError) as API errors."""
    if isinstance(exc, RequestDataTooBig):
        return BodyTooLarge()
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return TooManyParts()
    if isinstance(exc, RecursionError):
        return ParseError("body is nested too deeply")
    return exc
