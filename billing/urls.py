from django.urls import path

from billing import apis, views, webhooks

app_name = "billing"

urlpatterns = [
    path("api/v1/billing/packs", apis.CreditPackListApi.as_view(), name="api-packs"),
    path(
        "api/v1/billing/checkout-sessions",
        apis.CheckoutSessionCreateApi.as_view(),
        name="api-checkout-sessions",
    ),
    # Account management (billing/apis.py): usage records and usage alerts.
    path("api/v1/account/usage", apis.UsageListApi.as_view(), name="api-usage"),
    path("api/v1/account/usage/daily", apis.UsageDailyApi.as_view(), name="api-usage-daily"),
    path("api/v1/account/alerts", apis.AlertListCreateApi.as_view(), name="api-alerts"),
    path("api/v1/account/alerts/<str:alert_id>", apis.AlertDetailApi.as_view(), name="api-alert"),
    path("api/v1/account/callback-url", apis.CallbackUrlApi.as_view(), name="api-callback-url"),
    # Dashboard: usage alerts page (billing/views.py).
    path("dashboard/alerts/", views.alerts_page, name="alerts"),
    path("dashboard/alerts/<int:alert_id>/delete/", views.alert_delete_view, name="alert-delete"),
    path("dashboard/alerts/callback-url/", views.callback_url_view, name="alerts-callback-url"),
    path("billing/success/", views.topup_success, name="success"),
    path("billing/cancel/", views.topup_cancel, name="cancel"),
    path("billing/stripe/webhook/", webhooks.stripe_webhook, name="stripe-webhook"),
]
