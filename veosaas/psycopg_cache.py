"""psycopg's cache of converted statements, widened to hold the job row's INSERT.

psycopg converts every query it sends (Django's `%s` placeholders and the values, bound on the
client) and keeps the conversion of recent statements in an LRU cache (128 entries), but only
of statements with at most 50 parameters. The job row has 64 columns, so its INSERT, the one
statement every submit runs, was split and parsed again on each execution: about a tenth of a
submit's CPU. `statement_cache_widen` raises that bound to 64 once at start-up (the cache's
size stays 128, so memory stays bounded; a statement with more parameters is still converted
afresh). The bound is a module constant of psycopg read on every call; should a psycopg
release drop it, this does nothing and tests/test_psycopg_cache.py says so.
"""

from __future__ import annotations

from psycopg import _queries

# The most parameters of a statement whose conversion is kept (the job INSERT has 64).
MAX_CACHED_PARAMS = 64


def statement_cache_widen() -> bool:
    """Let psycopg keep the conversion of statements of up to MAX_CACHED_PARAMS parameters;
    False when this psycopg has no such bound."""
    current = getattr(_queries, "MAX_CACHED_STATEMENT_PARAMS", None)
    if not isinstance(current, int):
        return False
    _queries.MAX_CACHED_STATEMENT_PARAMS = max(current, MAX_CACHED_PARAMS)
    return True
