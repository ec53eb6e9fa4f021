from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The customer's own pages and account APIs: the top layer, which nothing imports."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "dashboard"
