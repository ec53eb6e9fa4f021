"""API documentation: /docs/ pages per facade, the OpenAPI schema and its local viewers."""

from django.urls import path
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from generation import views

app_name = "docs"

urlpatterns = [
    path("", views.docs_index, name="index"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="schema"),
    path("swagger/", SpectacularSwaggerView.as_view(url_name="docs:schema"), name="swagger"),
    # Our template: the package's loads Google Fonts.
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="docs:schema", template_name="docs/redoc.html"),
        name="redoc",
    ),
    path("<slug:facade>/", views.docs_facade, name="facade"),
]
