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
    path("billing/success/", views.topup_success, name="success"),
    path("billing/cancel/", views.topup_cancel, name="cancel"),
    path("billing/stripe/webhook/", webhooks.stripe_webhook, name="stripe-webhook"),
]
