from django.apps import AppConfig


class BillingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "billing"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from billing.models import Price
        from billing.selectors import ledger_drift_gauges
        from billing.services.pricing import price_cache_invalidate
        from veosaas.metrics import scrape_source_register

        scrape_source_register(ledger_drift_gauges)
        # Every process reloads the price table after any change of a row (services/pricing.py).
        post_save.connect(price_cache_invalidate, sender=Price, dispatch_uid="price-cache")
        post_delete.connect(price_cache_invalidate, sender=Price, dispatch_uid="price-cache-del")
