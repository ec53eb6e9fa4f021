"""Dashboard forms: sign up, log in (email or API key), API keys; a new video, the live price
query, history filters (usage alerts: dashboard.alert_forms)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from accounts import tokens
from accounts.forms import ThrottledLoginMixin, lockout_error
from accounts.models import ALL_SCOPES, ApiKey, BudgetPeriod, User
from accounts.selectors import ApiKeyInvalid, api_key_authenticate
from accounts.throttle import (
    client_address,
    login_failure_record,
    login_lockout_get,
    login_success_record,
)
from billing.catalog import DURATIONS, RESOLUTIONS, Tier
from dashboard.catalog_choices import (
    catalog_models,
    duration_choices,
    model_choices,
    resolution_choices,
)
from generation.models import Job
from generation.services import key_model_choices, key_models_as_ids

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

# ---------------------------------------------------------------------------------------------
# Accounts: sign up, log in, API keys
# ---------------------------------------------------------------------------------------------


class SignupForm(forms.Form):
    email = forms.EmailField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                _("An account with this email already exists. Log in or reset your password.")
            )
        return email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords do not match."))
        elif first:
            candidate = User(email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(first, candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class EmailAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    """Django's login form, throttled per account and address (accounts/throttle.py); emails
    are stored lower-cased, so they are compared that way."""

    def clean_username(self) -> str:
        return User.objects.normalize_email(self.cleaned_data.get("username", "")).lower()


class ApiKeyLoginForm(forms.Form):
    """Log in with an API key, as the codefast panel offers. Whoever holds an unrestricted key
    can already do everything the account can, so it opens the dashboard of that key's
    account. A key with scopes or limits cannot: the dashboard session would escape them."""

    api_key = forms.CharField(
        label=_("API key"),
        max_length=200,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, request: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key: ApiKey | None = None
        self.request = request

    def clean_api_key(self) -> str:
        """Throttled like password logins: the "account" is the key's visible prefix."""
        token = self.cleaned_data["api_key"]
        account, address = tokens.display_prefix(token), client_address(self.request)
        locked = login_lockout_get(kind="apikey", account=account, address=address)
        if locked is not None:
            raise lockout_error(locked)
        try:
            self.key = api_key_authenticate(token=token)
        except ApiKeyInvalid as exc:
            started = login_failure_record(kind="apikey", account=account, address=address)
            if started is not None:
                raise lockout_error(started) from exc
            raise forms.ValidationError(
                _("This API key is not valid (unknown, revoked or expired).")
            ) from exc
        if not self.key.is_unrestricted:
            self.key = None
            raise forms.ValidationError(
                _("This API key has scopes or limits: it works with the API only.")
            )
        login_success_record(kind="apikey", account=account)
        return token


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. production server")}),
    )


class ApiKeySettingsForm(forms.Form):
    """A key's scopes and limits on the dashboard; every field optional except the scopes.
    The service (generation.services.keys) checks the values and audits the change."""

    name = forms.CharField(label=_("Name"), max_length=100)
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=[(s, s) for s in ALL_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "read: status, lists, credits, usage; generate: new videos, upgrades; "
            "manage: keys, alerts, callback URL."
        ),
    )
    budget_credits = forms.IntegerField(
        label=_("Budget (credits)"), required=False, min_value=1, help_text=_("Empty: no budget.")
    )
    budget_period = forms.ChoiceField(label=_("Budget period"), choices=BudgetPeriod.choices)
    allowed_models = forms.MultipleChoiceField(
        label=_("Models"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every model. The ids of GET /api/v1/models."),
    )
    max_resolution = forms.ChoiceField(
        label=_("Highest resolution"),
        choices=[("", _("any")), *[(r, r) for r in RESOLUTIONS]],
        required=False,
    )
    max_seconds = forms.TypedChoiceField(
        label=_("Longest video (seconds)"),
        choices=[("", _("any")), *[(d, str(d)) for d in DURATIONS]],
        coerce=int,
        empty_value=None,
        required=False,
    )
    rate_limit_per_minute = forms.IntegerField(
        label=_("Requests per minute"), required=False, min_value=1
    )
    max_concurrent_jobs = forms.IntegerField(label=_("Jobs at once"), required=False, min_value=1)
    allowed_ips = forms.CharField(
        label=_("Allowed addresses"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "203.0.113.7, 10.0.0.0/8"}),
        help_text=_("IP addresses or CIDR ranges; empty: any address."),
    )

    @classmethod
    def for_key(cls, api_key: ApiKey, data: Any = None) -> ApiKeySettingsForm:
        initial = {
            "name": api_key.name,
            "scopes": api_key.scopes,
            "budget_credits": api_key.budget_credits,
            "budget_period": api_key.budget_period,
            "allowed_models": key_models_as_ids(api_key.allowed_models or []),
            "max_resolution": api_key.max_resolution,
            "max_seconds": api_key.max_seconds,
            "rate_limit_per_minute": api_key.rate_limit_per_minute,
            "max_concurrent_jobs": api_key.max_concurrent_jobs,
            "allowed_ips": ", ".join(api_key.allowed_ips or []),
        }
        return cls(data, initial=initial)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.MultipleChoiceField, self.fields["allowed_models"])
        field.choices = key_model_choice_labels(self.initial.get("allowed_models") or [])

    def clean_allowed_ips(self) -> list[str]:
        text = self.cleaned_data.get("allowed_ips") or ""
        return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


def key_model_choice_labels(stored: list[str]) -> list[tuple[str, str]]:
    """The catalog's model ids with the tiers each runs, for key allow-list checkboxes, and
    any id the key holds that the catalog no longer offers (shown ticked, never dropped
    silently: saving asks to untick it)."""
    offered = key_model_choices()
    ids = {model_id for model_id, _tiers in offered}
    return [
        *((m, f"{m} ({', '.join(str(Tier(t).label) for t in tiers)})") for m, tiers in offered),
        *(
            (m, str(_("%(model)s (no longer offered)") % {"model": m}))
            for m in stored
            if m not in ids
        ),
    ]


# ---------------------------------------------------------------------------------------------
# Videos: new video, price, history
# ---------------------------------------------------------------------------------------------

MODE_CHOICES = [
    (Job.Mode.TEXT, _("Text to video")),
    (Job.Mode.IMAGE, _("Image to video")),
    (Job.Mode.FIRST_LAST, _("First and last frame")),
]
MODE_LABELS: dict[str, StrPromise] = dict(MODE_CHOICES)
MODEL_CHOICES = [("fast", _("Fast")), ("quality", _("Quality")), ("lite", _("Lite"))]
ASPECT_CHOICES = [
    ("16:9", _("16:9 landscape")),
    ("9:16", _("9:16 portrait")),
    ("auto", _("Auto (from the image)")),
]
DURATION_CHOICES = [(4, _("4 seconds")), (6, _("6 seconds")), (8, _("8 seconds"))]
RESOLUTION_CHOICES = [("720p", "720p"), ("1080p", "1080p"), ("4k", "4K")]
STATE_LABELS: dict[str, StrPromise] = {
    Job.State.QUEUED: _("Queued"),
    Job.State.RUNNING: _("Processing"),
    Job.State.SUCCEEDED: _("Completed"),
    Job.State.FAILED: _("Failed"),
    Job.State.CANCELLED: _("Cancelled"),
}
MAX_SEED = 2**32 - 1
IMAGE_ACCEPT = "image/jpeg,image/png,image/webp"


class PriceForm(forms.Form):
    """The inputs that decide a generation's price (GET /dashboard/price/ and the new-video
    form share them, so the price shown is computed from what will be submitted)."""

    mode = forms.ChoiceField(
        label=_("Type"), choices=MODE_CHOICES, initial=Job.Mode.TEXT, widget=forms.RadioSelect
    )
    model_tier = forms.ChoiceField(label=_("Model"), choices=MODEL_CHOICES, initial="fast")
    aspect_ratio = forms.ChoiceField(
        label=_("Aspect ratio"), choices=ASPECT_CHOICES, initial="16:9"
    )
    duration_seconds = forms.TypedChoiceField(
        label=_("Duration"), choices=DURATION_CHOICES, coerce=int, initial=8
    )
    resolution = forms.ChoiceField(
        label=_("Resolution"), choices=RESOLUTION_CHOICES, initial="720p"
    )
    generate_audio = forms.BooleanField(label=_("With sound"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Models, durations and resolutions are those of the catalog (`GET /api/v1/models`);
        `self.models` holds each model's capabilities for the page."""
        super().__init__(*args, **kwargs)
        self.models = catalog_models()
        for name, choices in (
            ("model_tier", model_choices(self.models)),
            ("duration_seconds", duration_choices(self.models)),
            ("resolution", resolution_choices(self.models)),
        ):
            field = cast(forms.ChoiceField, self.fields[name])
            field.choices = choices


class VideoForm(PriceForm):
    prompt = forms.CharField(
        label=_("Prompt"),
        max_length=settings.GENERATION_PROMPT_MAX_CHARS,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "placeholder": _("A beautiful sunset over mountains, slow aerial shot"),
            }
        ),
    )
    image = forms.FileField(
        label=_("Image (first frame)"),
        required=False,
        widget=forms.FileInput(attrs={"accept": IMAGE_ACCEPT, "data-preview": "image-preview"}),
        help_text=_("JPEG, PNG or WebP."),
    )
    last_image = forms.FileField(
        label=_("Last frame"),
        required=False,
        widget=forms.FileInput(
            attrs={"accept": IMAGE_ACCEPT, "data-preview": "last-image-preview"}
        ),
    )
    seed = forms.IntegerField(
        label=_("Seed (optional)"), required=False, min_value=0, max_value=MAX_SEED
    )
    # Makes a double submit of the same form one job (job_submit's idempotency key).
    form_token = forms.CharField(widget=forms.HiddenInput, max_length=64)

    field_order = [
        "prompt",
        "mode",
        "image",
        "last_image",
        "model_tier",
        "aspect_ratio",
        "duration_seconds",
        "resolution",
        "generate_audio",
        "seed",
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("form_token", uuid.uuid4().hex)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        mode = cleaned.get("mode")
        limit = settings.GENERATION_UPLOAD_MAX_BYTES
        for name in ("image", "last_image"):
            upload = cleaned.get(name)
            if upload is not None and upload.size > limit:
                self.add_error(
                    name, _("The file is larger than %(mb)d MB.") % {"mb": limit // (1024 * 1024)}
                )
        if mode in (Job.Mode.IMAGE, Job.Mode.FIRST_LAST) and not cleaned.get("image"):
            self.add_error("image", _("Choose an image."))
        if mode == Job.Mode.FIRST_LAST and not cleaned.get("last_image"):
            self.add_error("last_image", _("Choose the last frame."))
        if mode == Job.Mode.TEXT:
            # Files picked before switching to text are not sent on.
            cleaned["image"] = cleaned["last_image"] = None
        elif mode == Job.Mode.IMAGE:
            cleaned["last_image"] = None
        return cleaned

    def images(self) -> list[Any]:
        return [
            f
            for f in (self.cleaned_data.get("image"), self.cleaned_data.get("last_image"))
            if f is not None
        ]


class HistoryFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *STATE_LABELS.items()]
    )
    created_from = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    created_to = forms.DateField(
        label=_("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, last = cleaned.get("created_from"), cleaned.get("created_to")
        if first and last and first > last:
            self.add_error("created_to", _("The end date is before the start date."))
        return cleaned
