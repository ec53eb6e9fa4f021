from django.contrib import admin
from django.urls import include, path

from veosaas import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("healthz/worker", health.healthz_worker, name="healthz-worker"),
    path("", include("billing.urls")),
    path("", include("generation.urls")),
]

handler404 = "veosaas.exceptions.not_found"
handler500 = "veosaas.exceptions.server_error"
