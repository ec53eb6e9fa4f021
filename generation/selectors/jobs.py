"""Reads of jobs: one job by id or idempotency key, the account's lists and counts, price checks.

Every lookup is scoped to the acting account: another account's job answers exactly like an
unknown id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any, cast

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from billing.catalog import DEFAULT_ASPECT_RATIO
from billing.errors import PriceNotFound
from billing.services import price_quote
from generation.models import Job
from generation.providers import provider_name_for
from generation.providers.catalog import CapabilityError, model_spec, spec_validate
from outbound.models import Delivery
from outbound.selectors import deliveries_for_reference
from veosaas import logcontext


@cache
def _job_row_plan(vendor: str) -> tuple[str, list[str], list[tuple[Any, list[Any]]]]:
    """One SELECT of every Job column by id and owner, and each column's DB converters.

    Built once per process from the model, the same way Django's compiler would each time.
    """
    quote = connection.ops.quote_name
    fields = Job._meta.concrete_fields
    table = Job._meta.db_table
    sql = (
        f"SELECT {', '.join(quote(cast(str, f.column)) for f in fields)} FROM {quote(table)} "  # noqa: S608
        f"WHERE {quote('id')} = %s AND {quote('user_id')} = %s"
    )
    plan = []
    for field in fields:
        column = field.get_col(table)
        plan.append(
            (column, connection.ops.get_db_converters(column) + field.get_db_converters(connection))
        )
    return sql, [f.attname for f in fields], plan


def job_get(*, user: User, job_id: object) -> Job | None:
    """The user's job with this id, or None (also for another account's job).

    Status polling is the hottest read path: this runs one fixed SQL statement instead of
    compiling an ORM query on every call.
    """
    try:
        pk = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))
    except (ValueError, AttributeError):
        return None
    sql, names, plan = _job_row_plan(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [Job._meta.pk.get_db_prep_value(pk, connection), user.pk])
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for value, (column, converters) in zip(row, plan, strict=True):
        for converter in converters:
            value = converter(value, column, connection)
        values.append(value)
    logcontext.bind(job_id=pk)
    return Job.from_db(connection.alias, names, values)


def jobs_for_user(*, user: User) -> QuerySet[Job]:
    return Job.objects.filter(user=user).order_by("-created_at")


def jobs_succeeded_for_user(*, user: User) -> QuerySet[Job]:
    """The account's finished videos, newest first: one query, only the listed columns."""
    return (
        Job.objects.filter(user=user, state=Job.State.SUCCEEDED)
        .only(
            "id",
            "user_id",
            "created_at",
            "aspect_ratio",
            "resolved_aspect_ratio",
            "duration_seconds",
            "resolution",
            "image_refs",
            "video_file",
        )
        .order_by("-created_at", "-id")
    )


def job_get_by_idempotency_key(*, user: User, key: str) -> Job | None:
    """The account's job submitted with this Idempotency-Key, if any."""
    return Job.objects.filter(user=user, idempotency_key=key).first()


@dataclass(frozen=True)
class JobCounts:
    total: int
    succeeded: int
    active: int  # queued or running


def job_counts(*, user: User) -> JobCounts:
    """The account's jobs: all, finished videos, and those queued or running (one query)."""
    counts = Job.objects.filter(user=user).aggregate(
        total=Count("pk"),
        succeeded=Count("pk", filter=Q(state=Job.State.SUCCEEDED)),
        active=Count("pk", filter=Q(state__in=[Job.State.QUEUED, Job.State.RUNNING])),
    )
    return JobCounts(total=counts["total"], succeeded=counts["succeeded"], active=counts["active"])


def jobs_filtered_for_user(
    *,
    user: User,
    state: str = "",
    created_from: date | None = None,
    created_to: date | None = None,
) -> QuerySet[Job]:
    """The account's jobs, newest first, optionally of one state and created within a range of
    calendar days (both ends included, days in the current time zone)."""
    jobs = Job.objects.filter(user=user)
    if state:
        jobs = jobs.filter(state=state)
    zone = timezone.get_current_timezone()
    if created_from is not None:
        jobs = jobs.filter(created_at__gte=datetime.combine(created_from, time.min, tzinfo=zone))
    if created_to is not None:
        end = datetime.combine(created_to + timedelta(days=1), time.min, tzinfo=zone)
        jobs = jobs.filter(created_at__lt=end)
    return jobs.order_by("-created_at", "-id")


@dataclass(frozen=True)
class PriceCheck:
    """What a generation would cost, or why it cannot be made (`field`, `message`)."""

    credits: int | None
    field: str = ""
    message: str = ""


_IMAGES_PER_MODE: dict[str, int] = {Job.Mode.TEXT: 0, Job.Mode.IMAGE: 1, Job.Mode.FIRST_LAST: 2}


def job_price_check(
    *,
    mode: str,
    model_tier: str,
    resolution: str,
    duration_seconds: int,
    aspect_ratio: str,
    generate_audio: bool = True,
) -> PriceCheck:
    """The credits `job_submit` would hold for a generation with these inputs (the same
    `billing.services.price_quote` call), after the same catalog check; reads only."""
    try:
        spec_validate(
            model_spec(provider=provider_name_for(model_tier=model_tier), tier=model_tier),
            mode=mode,
            resolution=resolution,
            duration_seconds=duration_seconds,
            aspect_ratio=aspect_ratio if aspect_ratio != "auto" else DEFAULT_ASPECT_RATIO,
            image_count=_IMAGES_PER_MODE.get(mode, 0),
            has_source_video=False,
            generate_audio=generate_audio,
        )
        quote = price_quote(
            operation=Job.Kind.GENERATE,
            model_tier=model_tier,
            resolution=resolution,
            seconds=duration_seconds,
            audio=generate_audio,
        )
    except CapabilityError as exc:
        return PriceCheck(credits=None, field=exc.field, message=exc.message)
    except PriceNotFound as exc:
        return PriceCheck(credits=None, field="resolution", message=str(exc))
    return PriceCheck(credits=quote.credits)


def callback_deliveries_for_job(*, job: Job) -> QuerySet[Delivery]:
    """The job's callback deliveries with their attempts (two queries)."""
    return deliveries_for_reference(topic=Delivery.Topic.JOB_CALLBACK, reference=job.pk.hex)


def jobs_page_for_user(
    *,
    user: User,
    after: Job | None,
    ascending: bool,
    limit: int,
    kinds: tuple[str, ...] = (),
    fields: tuple[str, ...] = (),
) -> list[Job]:
    """One page of the account's jobs in creation order (`ascending` or newest first),
    starting after the job `after` (a cursor; ties on the creation time are ordered by id).
    `kinds` limits the job kinds listed; `fields` the columns loaded (others load on access)."""
    direction = "" if ascending else "-"
    queryset = jobs_for_user(user=user).order_by(f"{direction}created_at", f"{direction}id")
    if kinds:
        queryset = queryset.filter(kind__in=kinds)
    if after is not None:
        if ascending:
            beyond = Q(created_at__gt=after.created_at) | Q(
                created_at=after.created_at, id__gt=after.id
            )
        else:
            beyond = Q(created_at__lt=after.created_at) | Q(
                created_at=after.created_at, id__lt=after.id
            )
        queryset = queryset.filter(beyond)
    if fields:
        names = {f.attname: f.name for f in Job._meta.concrete_fields}
        queryset = queryset.only(*(names.get(f, f) for f in fields))
    return list(queryset[:limit])
