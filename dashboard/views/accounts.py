"""Account pages of the dashboard: sign up, log in (password or API key), password reset, API keys
and the callback signing secret. Each view parses its form and calls one service or selector."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.selectors import api_key_get, api_key_list
from accounts.services import (
    ApiKeyLimitsInvalid,
    api_key_create,
    api_key_revoke,
    api_key_touch,
)
from accounts.typing import AuthenticatedHttpRequest
from billing.selectors import key_budgets_used
from dashboard.forms import (
    ApiKeyCreateForm,
    ApiKeyLoginForm,
    ApiKeySettingsForm,
    EmailAuthenticationForm,
    SignupForm,
)
from dashboard.services import user_signup
from generation.services import api_key_settings_update
from outbound.services import webhook_secret_get_or_create, webhook_secret_rotate
from veosaas.http import public_base_url
from veosaas.middleware import DISPLAY_TIME_ZONE_COOKIE

# Sessions opened by a password or an API key are ordinary Django sessions.
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
# A new key's raw token, from the POST that created it to the one GET that shows it.
NEW_KEY_SESSION = "dashboard.new_api_key"


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account with email and password; the signup credits are granted once."""
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = user_signup(
            email=form.cleaned_data["email"], password=form.cleaned_data["password1"]
        )
        login(request, user, backend=MODEL_BACKEND)
        messages.success(request, _("Welcome! Your account is ready."))
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.setdefault("key_form", ApiKeyLoginForm())
        return context


@require_http_methods(["GET", "POST"])
def api_key_login(request: HttpRequest) -> HttpResponse:
    """Convenience login with an API key (the codefast panel's "API Key ile Giriş").

    A key already spends the account's credits through the API, so it is trusted to open the
    same account's dashboard; the session is an ordinary one. Revoking the key does not end
    sessions already opened with it (log out, or change the password, for that).
    """
    if request.method == "GET":
        return redirect("dashboard:login")
    form = ApiKeyLoginForm(request.POST, request=request)
    if form.is_valid() and form.key is not None:
        api_key_touch(api_key=form.key)
        login(request, form.key.user, backend=MODEL_BACKEND)
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(
        request,
        "accounts/login.html",
        {"form": EmailAuthenticationForm(request), "key_form": form},
        status=400,
    )


class LogoutView(auth_views.LogoutView):
    """POST only (Django 5): a link cannot log anyone out."""


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("dashboard:password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        # The link in the mail must point at this server's public address.
        self.extra_email_context = {"base_url": public_base_url(self.request)}
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("dashboard:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


def _keys_page(
    request: AuthenticatedHttpRequest,
    *,
    form: ApiKeyCreateForm,
    created: Any = None,
    status: int = 200,
) -> HttpResponse:
    keys = list(api_key_list(user=request.user))
    used = key_budgets_used(api_keys=keys)  # spend against the budget this period
    return render(
        request,
        "accounts/keys.html",
        {
            "keys": [(key, used[key.pk]) for key in keys],
            "form": form,
            "created": created,
            "webhook_secret": webhook_secret_get_or_create(user=request.user),
            "webhook_secret_rotated_at": request.user.webhook_secret_rotated_at,
        },
        status=status,
    )


@login_required
@never_cache  # the page carries a new raw token and the signing secret
@require_http_methods(["GET", "POST"])
def api_keys(request: AuthenticatedHttpRequest) -> HttpResponse:
    """List the account's keys; POST creates one and redirects (post/redirect/get, so a
    refresh never creates a second key). The raw token rides in the session to the next GET
    only, which pops it: it is shown once and never stored anywhere else."""
    if request.method == "POST":
        form = ApiKeyCreateForm(request.POST)
        if form.is_valid():
            created = api_key_create(user=request.user, name=form.cleaned_data["name"])
            request.session[NEW_KEY_SESSION] = {
                "token": created.token,
                "api_key": {"name": created.api_key.name},
            }
            return redirect("dashboard:keys")
        return _keys_page(request, form=form, status=400)
    return _keys_page(
        request, form=ApiKeyCreateForm(), created=request.session.pop(NEW_KEY_SESSION, None)
    )


@login_required
@require_http_methods(["GET", "POST"])
def api_key_edit(request: AuthenticatedHttpRequest, key_id: int) -> HttpResponse:
    """A key's scopes and limits: the form, and on POST the change through the same service as
    the keys API (audited, errors next to the field)."""
    user = request.user
    api_key = api_key_get(user=user, key_id=key_id)
    if api_key is None or api_key.revoked_at is not None:
        raise Http404("no such key")
    form = ApiKeySettingsForm.for_key(api_key, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            api_key_settings_update(
                api_key=api_key, changes=form.cleaned_data, actor=user, via="dashboard"
            )
        except ApiKeyLimitsInvalid as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("The key %(name)s was saved.") % {"name": api_key.masked})
            return redirect(reverse("dashboard:keys") + f"#key-{api_key.pk}")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "accounts/key_edit.html",
        {
            "key": api_key,
            "form": form,
            "budget_used": key_budgets_used(api_keys=[api_key])[api_key.pk],
        },
        status=status,
    )


@login_required
@require_POST
def api_key_revoke_view(request: AuthenticatedHttpRequest, key_id: int) -> HttpResponse:
    api_key = api_key_get(user=request.user, key_id=key_id)
    if api_key is None:
        raise Http404("no such key")
    api_key_revoke(api_key=api_key)
    messages.success(request, _("The key %(name)s was revoked.") % {"name": api_key.masked})
    return redirect("dashboard:keys")


@login_required
@require_POST
def webhook_secret_rotate_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    webhook_secret_rotate(user=request.user)
    messages.success(
        request,
        _("A new callback signing secret was created. Callbacks are signed with it from now on."),
    )
    return redirect(reverse("dashboard:keys") + "#signing-secret")


@require_POST
def display_time_zone_set(request: HttpRequest) -> HttpResponse:
    """Remember the zone this browser reads times in (a cookie, like the language), then go
    back. Only display: every day boundary stays in the business zone (settings.TIME_ZONE)."""
    name = request.POST.get("time_zone", "")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("dashboard:home")
    response = redirect(target)
    if _is_zone(name):
        response.set_cookie(DISPLAY_TIME_ZONE_COOKIE, name, max_age=365 * 24 * 3600, samesite="Lax")
    return response


def _is_zone(name: str) -> bool:
    if not name or len(name) > 64:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
