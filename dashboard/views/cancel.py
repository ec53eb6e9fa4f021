"""The Cancel button of the dashboard's job page: a CSRF-protected POST that cancels the job
(generation/services/cancel.py), then redirects back to the page with a message saying what
happened (post/redirect/get)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.typing import AuthenticatedHttpRequest
from generation.selectors import job_get
from generation.services import CancelOutcome, job_cancel


@login_required
@require_POST
def job_cancel_view(request: AuthenticatedHttpRequest, job_id: Any) -> HttpResponse:
    job = job_get(user=request.user, job_id=job_id)
    if job is None:
        raise Http404("no such job")
    outcome = job_cancel(job=job)
    if outcome == CancelOutcome.CANCELLED:
        messages.success(
            request,
            _("The video was cancelled and its %(credits)d held credits were returned.")
            % {"credits": job.credits_quoted},
        )
    elif outcome == CancelOutcome.REQUESTED:
        messages.info(
            request,
            _(
                "Cancel requested: the provider is asked to stop. If it still finishes the "
                "video, you get it and it is charged, because the provider billed it; "
                "otherwise the held credits are returned."
            ),
        )
    else:
        messages.warning(request, _("This video had already ended: nothing was cancelled."))
    return redirect("dashboard:job", job_id=job.id)
