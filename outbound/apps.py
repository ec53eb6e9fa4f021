from django.apps import AppConfig


class OutboundConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "outbound"
    verbose_name = "Outbound messages"

    def ready(self) -> None:
        from outbound.selectors import deliveries_gauges
        from veosaas.metrics import scrape_source_register

        scrape_source_register(deliveries_gauges)
