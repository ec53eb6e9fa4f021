"""Login forms' throttling (accounts/throttle.py), shared by the dashboard and the admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest
from django.utils.translation import ngettext

from accounts.throttle import (
    Lockout,
    client_address,
    login_failure_record,
    login_lockout_get,
    login_success_record,
)


def lockout_error(lockout: Lockout) -> forms.ValidationError:
    """The clear message a locked-out login gets (never "wrong password")."""
    if lockout.scope == "account":
        text = ngettext(
            "Too many failed login attempts for this account. Try again in %(n)d minute.",
            "Too many failed login attempts for this account. Try again in %(n)d minutes.",
            lockout.minutes,
        )
    else:
        text = ngettext(
            "Too many failed login attempts from your network. Try again in %(n)d minute.",
            "Too many failed login attempts from your network. Try again in %(n)d minutes.",
            lockout.minutes,
        )
    return forms.ValidationError(text % {"n": lockout.minutes}, code="locked")


class ThrottledLoginMixin:
    """For a Django AuthenticationForm: refuse while locked out, count failed attempts."""

    throttle_kind = "password"
    request: HttpRequest | None
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        account = str(self.cleaned_data.get("username") or "")
        address = client_address(self.request)
        locked = login_lockout_get(kind=self.throttle_kind, account=account, address=address)
        if locked is not None:
            raise lockout_error(locked)
        try:
            cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        except forms.ValidationError as exc:
            if exc.code in ("invalid_login", "inactive"):
                started = login_failure_record(
                    kind=self.throttle_kind, account=account, address=address
                )
                if started is not None:
                    raise lockout_error(started) from exc
            raise
        login_success_record(kind=self.throttle_kind, account=account)
        return cleaned
