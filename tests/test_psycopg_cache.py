"""psycopg keeps the conversion of the job row's 64-parameter INSERT (veosaas/psycopg_cache.py):
a second submit's INSERT is not split and parsed again."""

from __future__ import annotations

import pytest
from psycopg import _queries

from generation.models import Job
from tests.factories import UserFactory
from veosaas.psycopg_cache import MAX_CACHED_PARAMS, statement_cache_widen

pytestmark = pytest.mark.django_db


def test_the_bound_is_widened_at_start_up() -> None:
    assert _queries.MAX_CACHED_STATEMENT_PARAMS >= MAX_CACHED_PARAMS
    assert len(Job._meta.concrete_fields) <= MAX_CACHED_PARAMS  # the job INSERT fits
    assert statement_cache_widen() is True  # and widening again changes nothing
    assert _queries.MAX_CACHED_STATEMENT_PARAMS == MAX_CACHED_PARAMS


def test_the_job_insert_is_converted_once(require_postgres, monkeypatch) -> None:
    user = UserFactory()
    Job.objects.create(user=user, facade="veo3o1", prompt="first", provider="local")
    fresh: list[int] = []
    convert = _queries._query2pg_client_nocache

    def counted(query, *args, **kwargs):  # type: ignore[no-untyped-def]
        fresh.append(query.count(b"%s"))
        return convert(query, *args, **kwargs)

    monkeypatch.setattr(_queries, "_query2pg_client_nocache", counted)
    Job.objects.create(user=user, facade="veo3o1", prompt="second", provider="local")
    assert fresh == []  # every statement's conversion came from the cache
    assert Job.objects.filter(user=user).count() == 2
