"""The INSERT of a new job's row, planned once per process instead of compiled on every save.

`Job.objects.create` compiles its INSERT anew on every submit: for each of the job's 64
columns a pre-save hook, an expression check, `get_db_prep_save` and a placeholder are
worked out, then the statement is assembled — the largest single share of a submit's CPU.
`job_row_insert` sends the same statement (every concrete column, in the model's order, no
RETURNING: the primary key is set before) with the statement text built once per process and
each value prepared as Django prepares it: a value of the exact type a column stores as is
(a str for a text column, an int for an integer column, a bool, None for a nullable column,
a UUID for a UUID column) is passed on unchanged, which is what Django's preparation gives for
it; anything else goes through the field's own `get_db_prep_save`. The columns Django fills at
save time (`auto_now`, `auto_now_add`) are filled by the fields' own `pre_save`. The row is
then the ORM's: tests/generation/test_job_row.py inserts the same job both ways and compares
every column read back, on SQLite and PostgreSQL.

It runs no `pre_save`/`post_save` signals; none are connected for Job (the test checks), and
while one is, `job_row_insert` uses the ORM.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

from django.db import connections, models
from django.db.models.expressions import RawSQL
from django.db.models.signals import post_save, pre_save

from generation.models import Job

_Prep = Callable[[Any], Any]


def _prep(field: models.Field[Any, Any], alias: str) -> _Prep:
    """How `field` prepares a value for the database: unchanged for a value of the exact
    stored type (or None for a nullable column that is not JSON), else as Django prepares it."""
    connection = connections[alias]
    slow = field.get_db_prep_save
    exact: tuple[type, ...] = ()
    if isinstance(field, models.ForeignKey):
        target = field.target_field
        if not isinstance(target, models.UUIDField):
            exact = (int,)
        elif connection.features.has_native_uuid_field:
            exact = (uuid.UUID,)
    elif isinstance(field, (models.CharField, models.TextField)):
        exact = (str,)  # a TextChoices member is not exactly a str: Django's way
    elif isinstance(field, models.BooleanField):
        exact = (bool,)
    elif isinstance(field, models.IntegerField):  # the small, big and positive ones too
        exact = (int,)
    elif isinstance(field, models.UUIDField) and connection.features.has_native_uuid_field:
        exact = (uuid.UUID,)
    none_as_is = field.null and not isinstance(field, models.JSONField)

    def prep(value: Any) -> Any:
        if type(value) in exact or (value is None and none_as_is):
            return value
        return slow(value, connection)

    return prep


@cache
def _plan(alias: str) -> tuple[str, list[str], list[_Prep], list[models.Field[Any, Any]]]:
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = list(Job._meta.concrete_fields)
    columns = ", ".join(quote(str(f.column)) for f in fields)
    head = f"INSERT INTO {quote(Job._meta.db_table)} ({columns}) VALUES "  # noqa: S608
    at_save = [
        f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    return head, [f.attname for f in fields], [_prep(f, alias) for f in fields], at_save


@cache
def _values(count: int, raw: tuple[tuple[int, str], ...]) -> str:
    """The VALUES list: a placeholder per column, or the SQL of a RawSQL value in its place."""
    parts = ["%s"] * count
    for index, sql in raw:
        parts[index] = f"({sql})"
    return f"({', '.join(parts)})"


def job_row_insert(job: Job, *, using: str = "default") -> None:
    """INSERT `job` (new, its primary key set) as `job.save(force_insert=True)` would. A value
    may be a RawSQL expression (the hold's id from its sequence); any other expression, or a
    connected save signal, makes it the ORM's save."""
    if pre_save.has_listeners(Job) or post_save.has_listeners(Job):
        job.save(force_insert=True, using=using)
        return
    head, attnames, preps, at_save = _plan(using)
    for field in at_save:
        field.pre_save(job, add=True)
    values = job.__dict__
    raw: list[tuple[int, str]] = []
    params: list[Any] = []
    for index, (name, prep) in enumerate(zip(attnames, preps, strict=True)):
        value = values[name]
        if hasattr(value, "resolve_expression"):
            if type(value) is not RawSQL:
                job.save(force_insert=True, using=using)
                return
            raw.append((index, value.sql))
            params.extend(value.params)
        else:
            params.append(prep(value))
    with connections[using].cursor() as cursor:
        cursor.execute(head + _values(len(attnames), tuple(raw)), params)
    job._state.adding = False
    job._state.db = using
