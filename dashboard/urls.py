"""Every customer page and customer account API, in one namespace ("dashboard").

Paths are those the pages and APIs always had: /accounts/..., /dashboard/..., /docs/...,
/billing/success|cancel/, /api/v1/billing/... and /api/v1/account/.... The Stripe webhook is
not a customer URL and stays in billing/urls.py.
"""

from django.urls import path
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from dashboard.apis import alerts as alert_apis
from dashboard.apis import jobs as job_apis
from dashboard.apis import keys as key_apis
from dashboard.apis import models as model_apis
from dashboard.apis import topups as topup_apis
from dashboard.apis import usage as usage_apis
from dashboard.views import accounts, alerts, cancel, credits, docs, videos

app_name = "dashboard"

urlpatterns = [
    # Sign up, log in, password reset, API keys and the callback signing secret.
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/login/", accounts.LoginView.as_view(), name="login"),
    path("accounts/login/key/", accounts.api_key_login, name="login-key"),
    path("accounts/logout/", accounts.LogoutView.as_view(), name="logout"),
    path("accounts/password-reset/", accounts.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/password-reset/sent/",
        accounts.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/password-reset/<uidb64>/<token>/",
        accounts.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password-reset/done/",
        accounts.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("accounts/time-zone/", accounts.display_time_zone_set, name="time-zone"),
    path("accounts/keys/", accounts.api_keys, name="keys"),
    path("accounts/keys/<int:key_id>/", accounts.api_key_edit, name="key-edit"),
    path("accounts/keys/<int:key_id>/revoke/", accounts.api_key_revoke_view, name="key-revoke"),
    path(
        "accounts/signing-secret/rotate/",
        accounts.webhook_secret_rotate_view,
        name="secret-rotate",
    ),
    # Credits: balance, packs, usage chart, ledger.
    path("dashboard/credits/", credits.credits_page, name="credits"),
    path("dashboard/credits/buy/", credits.credits_buy, name="credits-buy"),
    path("dashboard/credits/ledger.csv", credits.ledger_csv, name="ledger-csv"),
    # Videos.
    path("dashboard/", videos.home, name="home"),
    path("dashboard/new/", videos.video_new, name="new"),
    path("dashboard/price/", videos.price, name="price"),
    path("dashboard/jobs/", videos.history, name="history"),
    path("dashboard/jobs/<uuid:job_id>/", videos.job_detail, name="job"),
    path("dashboard/jobs/<uuid:job_id>/status/", videos.job_status_json, name="job-status"),
    path("dashboard/jobs/<uuid:job_id>/cancel/", cancel.job_cancel_view, name="job-cancel"),
    # API documentation: a page per facade, the OpenAPI schema and its local viewers.
    path("docs/", docs.docs_index, name="docs"),
    path("docs/openapi.json", SpectacularJSONAPIView.as_view(), name="docs-schema"),
    path(
        "docs/swagger/",
        # Split: the page's script is a separate request (no inline script; CSP, issue 15).
        SpectacularSwaggerSplitView.as_view(url_name="dashboard:docs-schema"),
        name="docs-swagger",
    ),
    # Our template: the package's loads Google Fonts.
    path(
        "docs/redoc/",
        SpectacularRedocView.as_view(
            url_name="dashboard:docs-schema", template_name="docs/redoc.html"
        ),
        name="docs-redoc",
    ),
    path("docs/prices/", docs.docs_prices, name="docs-prices"),
    path("docs/<slug:facade>/", docs.docs_facade, name="docs-facade"),
    # Top-ups over the API.
    path("api/v1/models", model_apis.ModelListApi.as_view(), name="api-models"),
    path("api/v1/billing/packs", topup_apis.CreditPackListApi.as_view(), name="api-packs"),
    path(
        "api/v1/billing/checkout-sessions",
        topup_apis.CheckoutSessionCreateApi.as_view(),
        name="api-checkout-sessions",
    ),
    # The account's jobs (every facade's) and their cancel, in our envelope.
    path("api/v1/jobs", job_apis.JobListApi.as_view(), name="api-jobs"),
    path("api/v1/jobs/<str:job_id>", job_apis.JobDetailApi.as_view(), name="api-job"),
    path("api/v1/jobs/<str:job_id>/cancel", job_apis.JobCancelApi.as_view(), name="api-job-cancel"),
    # Account management: usage records, usage alerts, the account callback URL.
    path("api/v1/account/usage", usage_apis.UsageListApi.as_view(), name="api-usage"),
    path("api/v1/account/usage/daily", usage_apis.UsageDailyApi.as_view(), name="api-usage-daily"),
    path("api/v1/account/usage/keys", usage_apis.UsageByKeyApi.as_view(), name="api-usage-keys"),
    path("api/v1/account/alerts", alert_apis.AlertListCreateApi.as_view(), name="api-alerts"),
    path(
        "api/v1/account/alerts/<str:alert_id>",
        alert_apis.AlertDetailApi.as_view(),
        name="api-alert",
    ),
    path("api/v1/account/keys", key_apis.KeyListCreateApi.as_view(), name="api-keys"),
    path("api/v1/account/keys/<str:key_id>", key_apis.KeyDetailApi.as_view(), name="api-key"),
    path(
        "api/v1/account/callback-url",
        alert_apis.CallbackUrlApi.as_view(),
        name="api-callback-url",
    ),
    path("dashboard/alerts/", alerts.alerts_page, name="alerts"),
    path("dashboard/alerts/<int:alert_id>/delete/", alerts.alert_delete_view, name="alert-delete"),
    path("dashboard/alerts/callback-url/", alerts.callback_url_view, name="alerts-callback-url"),
    # The pages Stripe Checkout sends the browser back to.
    path("billing/success/", credits.topup_success, name="topup-success"),
    path("billing/cancel/", credits.topup_cancel, name="topup-cancel"),
]
