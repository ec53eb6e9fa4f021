"""Dashboard forms of the usage alerts page: an alert on the account (available credits, used
today) or on one of the user's API keys (percent of its budget used this period), and the
account callback URL their webhooks go to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiKey, User
from billing.alerts import THRESHOLD_MAX
from billing.models import UsageAlert

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

KEY_METRIC_LABEL = _("Key %(name)s has used more of its budget than (%%)")
METRIC_LABELS: dict[str, StrPromise] = {
    UsageAlert.Metric.AVAILABLE_BELOW: _("Available credits fall below"),
    UsageAlert.Metric.USED_TODAY_ABOVE: _("Credits used today rise above"),
    UsageAlert.Metric.KEY_BUDGET_USED_ABOVE: _("An API key has used more of its budget than (%)"),
}


class KeyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        key: ApiKey = obj
        if key.budget_credits:
            period = key.get_budget_period_display()
            return f"{key.name} ({key.masked}, {key.budget_credits} / {period})"
        return f"{key.name} ({key.masked})"


class AlertCreateForm(forms.Form):
    """Account metrics take a threshold in credits; the key metric a percentage of the chosen
    key's budget (0-100) and one of the user's active keys. billing.alerts checks again."""

    metric = forms.ChoiceField(label=_("Notify me when"), choices=list(METRIC_LABELS.items()))
    api_key_id = KeyChoiceField(
        label=_("API key"),
        queryset=ApiKey.objects.none(),
        required=False,
        empty_label=_("— for a key budget alert —"),
        help_text=_("Only for key budget alerts; the threshold is then a percentage."),
    )
    threshold = forms.IntegerField(
        label=_("Threshold (credits or %)"), min_value=0, max_value=THRESHOLD_MAX
    )
    email = forms.BooleanField(label=_("By email"), required=False, initial=True)
    webhook = forms.BooleanField(label=_("To my callback URL"), required=False, initial=True)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ModelChoiceField, self.fields["api_key_id"])
        field.queryset = ApiKey.objects.filter(user_id=user.pk, revoked_at__isnull=True).order_by(
            "name", "pk"
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        key = cleaned.get("api_key_id")
        if cleaned.get("metric") == UsageAlert.Metric.KEY_BUDGET_USED_ABOVE:
            if key is None and "api_key_id" not in self.errors:
                self.add_error("api_key_id", _("Choose the key whose budget to watch."))
            elif key is not None and not key.budget_credits:
                self.add_error("api_key_id", _("This key has no budget; set one on its page."))
            threshold = cleaned.get("threshold")
            if threshold is not None and threshold > 100:
                self.add_error("threshold", _("A key budget alert takes a percentage: 0 to 100."))
        elif key is not None:
            self.add_error("api_key_id", _("Only a key budget alert watches a key."))
        cleaned["api_key_id"] = key.pk if key is not None else None
        return cleaned


class CallbackUrlForm(forms.Form):
    url = forms.CharField(
        label=_("Callback URL"),
        required=False,
        max_length=2048,
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
        help_text=_("Leave empty to stop webhook notifications."),
    )
