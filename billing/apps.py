from django.apps import AppConfig


class BillingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "billing"

    def ready(self) -> None:
        from billing.selectors import ledger_drift_gauges
        from veosaas.metrics import scrape_source_register

        scrape_source_register(ledger_drift_gauges)
