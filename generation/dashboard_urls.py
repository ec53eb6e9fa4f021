"""The customer dashboard (session login): /dashboard/..."""

from django.urls import path

from generation import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("new/", views.video_new, name="new"),
    path("price/", views.price, name="price"),
    path("jobs/", views.history, name="history"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="job"),
    path("jobs/<uuid:job_id>/status/", views.job_status_json, name="job-status"),
]
