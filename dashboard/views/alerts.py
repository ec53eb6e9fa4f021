"""The dashboard's usage alerts page (/dashboard/alerts/): list, create and delete alerts, and
set the account callback URL their webhooks go to."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.typing import AuthenticatedHttpRequest
from billing.alerts import (
    AlertInvalid,
    AlertNotFound,
    alert_create,
    alert_delete,
)
from billing.models import UsageAlert
from billing.selectors import alert_deliveries_recent, alerts_for_user
from dashboard.alert_forms import KEY_METRIC_LABEL, METRIC_LABELS, AlertCreateForm, CallbackUrlForm
from outbound.errors import CallbackUrlInvalid
from outbound.selectors import account_callback_url_get
from outbound.services import account_callback_url_set


def _alert_label(alert: UsageAlert) -> str:
    if alert.metric == UsageAlert.Metric.KEY_BUDGET_USED_ABOVE and alert.api_key is not None:
        return str(KEY_METRIC_LABEL % {"name": alert.api_key.name})
    return str(METRIC_LABELS.get(alert.metric, alert.metric))


def _alerts_render(
    request: AuthenticatedHttpRequest,
    *,
    form: AlertCreateForm,
    url_form: CallbackUrlForm,
    status: int = 200,
) -> HttpResponse:
    alerts = [
        {
            "alert": a,
            "label": _alert_label(a),
            "percent": a.metric == UsageAlert.Metric.KEY_BUDGET_USED_ABOVE,
        }
        for a in alerts_for_user(user=request.user)
    ]
    return render(
        request,
        "dashboard/alerts.html",
        {
            "alerts": alerts,
            "form": form,
            "url_form": url_form,
            "callback_url": account_callback_url_get(user=request.user),
            "deliveries": alert_deliveries_recent(user=request.user),
            "time_zone": settings.TIME_ZONE,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def alerts_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """List the account's usage alerts; POST creates one."""
    callback_url = account_callback_url_get(user=request.user)
    # The webhook channel starts ticked only when there is a URL to post to.
    form = AlertCreateForm(
        request.POST or None, user=request.user, initial={"webhook": bool(callback_url)}
    )
    url_form = CallbackUrlForm(initial={"url": callback_url})
    if request.method == "POST":
        if form.is_valid():
            try:
                alert_create(user=request.user, **form.cleaned_data)
            except AlertInvalid as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, _("Alert created."))
                return redirect("dashboard:alerts")
        return _alerts_render(request, form=form, url_form=url_form, status=400)
    return _alerts_render(request, form=form, url_form=url_form)


@login_required
@require_POST
def alert_delete_view(request: AuthenticatedHttpRequest, alert_id: int) -> HttpResponse:
    try:
        alert_delete(user=request.user, alert_id=alert_id)
    except AlertNotFound as exc:
        raise Http404 from exc
    messages.success(request, _("Alert deleted."))
    return redirect("dashboard:alerts")


@login_required
@require_POST
def callback_url_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Set or clear the account callback URL (where alert webhooks go)."""
    url_form = CallbackUrlForm(request.POST)
    if url_form.is_valid():
        try:
            account_callback_url_set(user=request.user, url=url_form.cleaned_data["url"])
        except CallbackUrlInvalid as exc:
            url_form.add_error("url", exc.message)
        else:
            messages.success(request, _("Callback URL saved."))
            return redirect("dashboard:alerts")
    form = AlertCreateForm(
        user=request.user,
        initial={"webhook": bool(account_callback_url_get(user=request.user))},
    )
    return _alerts_render(request, form=form, url_form=url_form, status=400)
