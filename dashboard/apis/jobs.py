"""The account's jobs in our envelope: `GET /api/v1/jobs` (newest first, paginated),
`GET /api/v1/jobs/{id}` and `POST /api/v1/jobs/{id}/cancel`.

Authenticated with `Authorization: Bearer <api key>` (scope `read` for GET, `generate` for the
cancel) or the dashboard's session (a POST then needs the CSRF token). Any facade's job of the
account is here; another account's job answers 404 like an unknown id. A job renders from its
status snapshot (`generation.facades.jobs.job_data`). Cancel semantics: generation/services/
cancel.py; a job that has already ended answers 409.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response

from accounts.authentication import BearerApiKeyAuthentication
from accounts.typing import AuthenticatedRequest
from dashboard.apis.base import ENVELOPE_ERROR, CustomerApi, ok, validated
from generation.facades.jobs import CANCEL_MESSAGES, JOB_SCHEMA, job_data
from generation.models import Job
from generation.selectors import jobs_filtered_for_user
from generation.services import CancelOutcome, job_cancel
from generation.snapshots import STATUS_FIELDS, job_snapshot_get
from veosaas.api import envelope

JOB_NOT_FOUND = "job: no job with this id"
PAGE_MAX = 100
# The last page a list may ask for: its row offset stays far inside a 64-bit integer (a larger
# page number is refused with 422, not sent to the database to overflow there).
PAGE_NUMBER_MAX = 1_000_000


class Conflict(exceptions.APIException):
    status_code = 409
    default_detail = "job: the job has already ended"


class JobsApi(CustomerApi):
    authentication_classes = [BearerApiKeyAuthentication, SessionAuthentication]


def _job_or_404(request: AuthenticatedRequest, job_id: str) -> Job:
    job = job_snapshot_get(user_id=request.user.pk, job_id=job_id)
    if job is None:
        raise exceptions.NotFound(JOB_NOT_FOUND)
    return job


PAGE_SCHEMA = {
    "type": "object",
    "properties": {
        "jobs": {"type": "array", "items": JOB_SCHEMA},
        "page": {"type": "integer"},
        "limit": {"type": "integer"},
        "total": {"type": "integer"},
        "has_more": {"type": "boolean"},
    },
}
CANCEL_SCHEMA = {
    "type": "object",
    "properties": {
        "job": JOB_SCHEMA,
        "outcome": {"type": "string", "enum": [CancelOutcome.CANCELLED, CancelOutcome.REQUESTED]},
        "message": {"type": "string"},
    },
}


class JobListApi(JobsApi):
    """GET /api/v1/jobs: the account's jobs, newest first."""

    class QuerySerializer(serializers.Serializer):
        state = serializers.ChoiceField(required=False, choices=Job.State.values)
        page = serializers.IntegerField(
            required=False, min_value=1, max_value=PAGE_NUMBER_MAX, default=1
        )
        limit = serializers.IntegerField(
            required=False, min_value=1, max_value=PAGE_MAX, default=20
        )

    @extend_schema(
        tags=["jobs"],
        summary="List jobs",
        description="The account's jobs from every API and the dashboard, newest first.",
        parameters=[
            OpenApiParameter("state", str, enum=Job.State.values),
            OpenApiParameter(
                "page", int, description=f"1-based, default 1, at most {PAGE_NUMBER_MAX:,}"
            ),
            OpenApiParameter("limit", int, description=f"1-{PAGE_MAX}, default 20"),
        ],
        responses={200: ok(PAGE_SCHEMA), 401: ENVELOPE_ERROR, 422: ENVELOPE_ERROR},
        operation_id="jobs_list",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        params = validated(self.QuerySerializer(data=request.query_params))
        page, limit = params["page"], params["limit"]
        jobs = jobs_filtered_for_user(user=request.user, state=params.get("state", ""))
        start = (page - 1) * limit
        rows = list(
            jobs.order_by("-created_at", "-id").only(*STATUS_FIELDS)[start : start + limit + 1]
        )
        return envelope(
            {
                "jobs": [job_data(job, request) for job in rows[:limit]],
                "page": page,
                "limit": limit,
                "total": jobs.count(),
                "has_more": len(rows) > limit,
            }
        )


class JobDetailApi(JobsApi):
    """GET /api/v1/jobs/{id}: one job (its status snapshot)."""

    @extend_schema(
        tags=["jobs"],
        summary="Get a job",
        responses={200: ok(JOB_SCHEMA), 401: ENVELOPE_ERROR, 404: ENVELOPE_ERROR},
        operation_id="jobs_get",
    )
    def get(self, request: AuthenticatedRequest, job_id: str) -> Response:
        return envelope(job_data(_job_or_404(request, job_id), request))


class JobCancelApi(JobsApi):
    """POST /api/v1/jobs/{id}/cancel."""

    @extend_schema(
        tags=["jobs"],
        summary="Cancel a job",
        description=(
            "`cancelled`: the job is cancelled and its held credits returned. "
            "`cancel_requested`: it runs upstream and the provider is asked to stop; it ends "
            "`cancelled` (credits returned) unless the provider finishes it first, then it "
            "succeeds and is charged because the provider billed it. 409 once it has ended."
        ),
        request=None,
        responses={
            200: ok(CANCEL_SCHEMA),
            401: ENVELOPE_ERROR,
            403: ENVELOPE_ERROR,
            404: ENVELOPE_ERROR,
            409: ENVELOPE_ERROR,
        },
        operation_id="jobs_cancel",
    )
    def post(self, request: AuthenticatedRequest, job_id: str) -> Response:
        job = _job_or_404(request, job_id)
        outcome = job_cancel(job=job)
        fresh = Job.objects.only(*STATUS_FIELDS).get(pk=job.pk)
        if outcome == CancelOutcome.ENDED:
            raise Conflict(f"job: the job has already ended ({fresh.state})")
        data: dict[str, Any] = {
            "job": job_data(fresh, request),
            "outcome": str(outcome),
            "message": CANCEL_MESSAGES[outcome],
        }
        return envelope(data, msg=CANCEL_MESSAGES[outcome])
