"""Credits pages of the customer dashboard: /dashboard/credits/..."""

from django.urls import path

from billing import views

app_name = "credits"

urlpatterns = [
    path("", views.credits_page, name="index"),
    path("buy/", views.credits_buy, name="buy"),
    path("ledger.csv", views.ledger_csv, name="ledger-csv"),
]
