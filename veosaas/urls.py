from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic.base import RedirectView

from generation.admin import operations_view
from veosaas import health
from veosaas.metrics_view import metrics_view

# The admin names the product, not the framework.
admin.site.site_header = "veosaas administration"
admin.site.site_title = "veosaas admin"

urlpatterns = [
    # Before admin/: the operations page of the admin (staff only).
    path("admin/operations/", admin.site.admin_view(operations_view), name="admin-operations"),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico whatever the page links; send them to the icon.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("healthz", health.healthz, name="healthz"),
    path("healthz/live", health.healthz_live, name="healthz-live"),
    path("healthz/worker", health.healthz_worker, name="healthz-worker"),
    path("metrics", metrics_view, name="metrics"),
    # The customer APIs early: status polling is most of the traffic, and URL resolution tries
    # patterns in order. None of them overlaps a path below.
    path("", include("generation.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # Every customer page and account API (/accounts/, /dashboard/, /docs/, /api/v1/account/,
    # /api/v1/billing/, /billing/success|cancel/), in one namespace.
    path("", include("dashboard.urls")),
    path("", include("billing.urls")),
]

handler404 = "veosaas.exceptions.not_found"
handler500 = "veosaas.exceptions.server_error"
