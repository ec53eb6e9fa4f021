from django.apps import AppConfig


class GenerationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "generation"

    def ready(self) -> None:
        from generation.selectors.operations import queue_gauges
        from veosaas.celery import broker_gauges
        from veosaas.metrics import scrape_source_register
        from veosaas.psycopg_cache import statement_cache_widen

        statement_cache_widen()  # the job row's 64-column INSERT is converted once per process
        scrape_source_register(queue_gauges)
        scrape_source_register(broker_gauges)
