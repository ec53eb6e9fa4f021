"""Everything sent to customers runs on the "callbacks" queue, and beat runs one sweeper for
every delivery."""

from __future__ import annotations

from django.conf import settings

from veosaas.celery import app as celery_app


def queue_of(task: str) -> str:
    return celery_app.amqp.router.route({}, task, (), {})["queue"].name


def test_outbound_tasks_and_callback_scheduling_run_on_the_callbacks_queue() -> None:
    assert queue_of("outbound.tasks.delivery_send_task") == "callbacks"
    assert queue_of("outbound.tasks.deliveries_sweep_task") == "callbacks"
    # Rendering a callback body never waits behind renders on the "generation" queue.
    assert queue_of("generation.tasks.job_callback_schedule") == "callbacks"
    assert queue_of("generation.tasks.job_run_task") == "generation"


def test_beat_runs_registered_tasks_including_the_delivery_sweeper() -> None:
    celery_app.loader.import_default_modules()
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "outbound.tasks.deliveries_sweep_task" in tasks
    assert tasks <= set(celery_app.tasks), tasks - set(celery_app.tasks)
