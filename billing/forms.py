"""Dashboard forms of billing: usage alerts and the account callback URL."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from billing.alerts import THRESHOLD_MAX
from billing.models import UsageAlert

METRIC_LABELS = {
    UsageAlert.Metric.AVAILABLE_BELOW: _("Available credits fall below"),
    UsageAlert.Metric.USED_TODAY_ABOVE: _("Credits used today rise above"),
}


class AlertCreateForm(forms.Form):
    metric = forms.ChoiceField(
        label=_("Notify me when"),
        choices=[(value, METRIC_LABELS[value]) for value in UsageAlert.Metric.values],
    )
    threshold = forms.IntegerField(label=_("Credits"), min_value=0, max_value=THRESHOLD_MAX)
    email = forms.BooleanField(label=_("By email"), required=False, initial=True)
    webhook = forms.BooleanField(label=_("To my callback URL"), required=False, initial=True)


class CallbackUrlForm(forms.Form):
    url = forms.CharField(
        label=_("Callback URL"),
        required=False,
        max_length=2048,
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
        help_text=_("Leave empty to stop webhook notifications."),
    )
