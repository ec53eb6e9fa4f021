"""Dashboard forms of accounts: sign up, log in (email or API key), name a new API key."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiKey, User
from accounts.selectors import ApiKeyInvalid, api_key_authenticate


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


class EmailAuthenticationForm(AuthenticationForm):
    """Django's login form; emails are stored lower-cased, so they are compared that way."""

    def clean_username(self) -> str:
        return User.objects.normalize_email(self.cleaned_data.get("username", "")).lower()


class ApiKeyLoginForm(forms.Form):
    """Log in with an API key, as the codefast panel offers. Whoever holds a key can already
    spend the account's credits, so it opens the dashboard of that key's account."""

    api_key = forms.CharField(
        label=_("API key"),
        max_length=200,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key: ApiKey | None = None

    def clean_api_key(self) -> str:
        token = self.cleaned_data["api_key"]
        try:
            self.key = api_key_authenticate(token=token)
        except ApiKeyInvalid as exc:
            raise forms.ValidationError(
                _("This API key is not valid (unknown, revoked or expired).")
            ) from exc
        return token


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. production server")}),
    )
