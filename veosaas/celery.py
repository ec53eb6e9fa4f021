"""The Celery app. Tasks are enqueued after commit (DjangoTask.delay_on_commit) with ids only."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "veosaas.settings")

app = Celery(
    "veosaas",
    task_cls="celery.contrib.django.task:DjangoTask",
    include=["veosaas.health"],
)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
