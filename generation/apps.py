from django.apps import AppConfig


class GenerationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "generation"

    def ready(self) -> None:
        from generation.selectors.operations import queue_gauges
        from veosaas.celery import broker_gauges
        from veosaas.metrics import scrape_source_register

        scrape_source_register(queue_gauges)
        scrape_source_register(broker_gauges)
