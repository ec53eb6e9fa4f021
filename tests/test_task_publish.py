"""A task published the lean way (veosaas/task_publish.py) is the message Celery would have
published, field by field, on a real Redis broker; it steps aside wherever it cannot be; and
end to end, jobs whose run task it published are run by a real worker."""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any

import pytest
import redis
from celery import Celery, signals

from tests.test_redis_wire import URL, redis_or_skip
from veosaas import logcontext, task_publish

# Celery takes $CELERY_BROKER_URL over an app's own broker setting (CI sets it to Redis).
BROKER = os.environ.get("CELERY_BROKER_URL", "")
BROKER = BROKER if BROKER.startswith("redis://") else URL
# The ids of a message; everything else must be equal.
FRESH_EACH_TIME = {"id", "root_id"}


@pytest.fixture
def broker() -> redis.Redis:
    return redis_or_skip(BROKER)


def probe_app(**conf: Any) -> tuple[Celery, Any, str]:
    """A Celery app configured as ours (veosaas/settings.py) on the test Redis, with one task
    routed to a queue of its own."""
    tag = uuid.uuid4().hex[:10]
    app = Celery(f"probe{tag}", broker=BROKER, set_as_current=False)
    queue = f"probe-{tag}"
    app.conf.update(
        {
            "task_serializer": "json",
            "accept_content": ["json"],
            "broker_transport_options": {"visibility_timeout": 3600},
            "task_default_queue": "default",
            "task_routes": {f"probe{tag}.*": {"queue": queue}},
            "task_time_limit": 960,
            "task_soft_time_limit": 900,
            "task_ignore_result": True,
            **conf,
        }
    )

    @app.task(name=f"probe{tag}.run")
    def run(job_id: str) -> None:  # pragma: no cover (never executed here)
        pass

    return app, run, queue


def messages(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    """The queue's messages oldest first, with their bodies decoded."""
    found = []
    for raw in reversed(client.lrange(queue, 0, -1)):
        message = json.loads(raw)
        assert message["properties"].pop("body_encoding") == "base64"
        message["body"] = json.loads(base64.b64decode(message["body"]))
        found.append(message)
    return found


def comparable(message: dict[str, Any]) -> dict[str, Any]:
    headers = {k: v for k, v in message["headers"].items() if k not in FRESH_EACH_TIME}
    properties = {
        k: v
        for k, v in message["properties"].items()
        if k not in {"correlation_id", "delivery_tag"}
    }
    return {**message, "headers": headers, "properties": properties}


def test_the_lean_message_is_celerys_message(broker) -> None:
    _, run, queue = probe_app()
    job_id = str(uuid.uuid4())
    logcontext.reset(request_id="req-1", job_id=job_id)
    try:
        assert task_publish.publish(run, [job_id]) is False  # the first goes through Celery
        run.apply_async(args=[job_id])
        assert task_publish.publish(run, [job_id]) is True
    finally:
        logcontext.reset()
    celerys, ours = messages(broker, queue)
    assert comparable(ours) == comparable(celerys)
    assert ours["headers"]["veosaas_request_id"] == "req-1"  # the log context travels too
    assert (
        ours["headers"]["root_id"] == ours["headers"]["id"] == ours["properties"]["correlation_id"]
    )
    assert ours["headers"]["id"] != celerys["headers"]["id"]
    assert ours["body"] == [
        [job_id],
        {},
        {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
    ]
    assert ours["headers"]["timelimit"] == [960, 900]
    broker.delete(queue)


def test_a_wrong_argument_count_is_refused_as_celery_refuses_it(broker) -> None:
    _, run, queue = probe_app()
    run.apply_async(args=["first"])
    task_publish.publish(run, ["declared"])
    with pytest.raises(TypeError):
        task_publish.publish(run, ["one", "two"])
    broker.delete(queue)


@pytest.mark.parametrize(
    "conf",
    [
        {"task_always_eager": True},
        {"broker_transport_options": {"visibility_timeout": 3600, "global_keyprefix": "x:"}},
        {"task_compression": "gzip"},
        {"task_default_priority": 5},
        {"task_send_sent_event": True},
    ],
    ids=["eager", "key prefix", "compression", "priority", "sent events"],
)
def test_what_it_does_not_reproduce_goes_through_celery(broker, conf) -> None:
    _, run, queue = probe_app(**conf)
    assert task_publish.publish(run, ["a"]) is False
    assert task_publish.publish(run, ["a"]) is False
    broker.delete(queue)


def test_other_brokers_go_through_celery(monkeypatch) -> None:
    _, run, _ = probe_app()
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    assert task_publish.publish(run, ["a"]) is False
    assert task_publish.publish(run, ["a"]) is False


def test_another_receiver_of_the_publish_signals_sends_through_celery(broker) -> None:
    _, run, queue = probe_app()
    seen: list[str] = []

    def spy(headers: dict[str, Any] | None = None, **_: Any) -> None:
        seen.append(headers["id"] if headers else "")

    run.apply_async(args=["first"])
    task_publish.publish(run, ["declared"])
    signals.before_task_publish.connect(spy)
    try:
        assert task_publish.publish(run, ["a"]) is False  # the spy would not see this one
    finally:
        signals.before_task_publish.disconnect(spy)
    assert task_publish.publish(run, ["a"]) is True
    broker.delete(queue)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"),
    reason="the lean publish is for a Redis broker: set CELERY_BROKER_URL=redis://... (CI does)",
)
def test_jobs_published_the_lean_way_are_run_by_a_real_worker(tmp_path) -> None:
    import requests

    from accounts.services import api_key_create
    from billing.services import credits_grant
    from tests.factories import UserFactory
    from tests.processes import running_stack

    user = UserFactory()
    credits_grant(user=user, amount=10_000, idempotency_key=f"lean:{user.pk}")
    token = api_key_create(user=user, name="lean").token
    headers = {"Authorization": f"Bearer {token}"}
    with running_stack(tmp_path, VEO3O1_DURATION_SECONDS="1") as stack:
        ids = []
        for n in range(5):  # more than the web processes: some go the lean way
            answer = requests.post(
                f"{stack.base_url}/api/v1/veo/generate",
                json={"prompt": f"lean {n}", "model": "veo3_fast"},
                headers=headers,
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            ids.append(answer.json()["data"]["taskId"])
        for task_id in ids:
            stack.wait_for(
                lambda task_id=task_id: (
                    requests.get(
                        f"{stack.base_url}/api/v1/veo/record-info",
                        params={"taskId": task_id},
                        headers=headers,
                        timeout=10,
                    ).json()["data"]["successFlag"]
                    == 1
                ),
                f"job {task_id}",
            )


@pytest.mark.parametrize(
    "args",
    [
        [str(uuid.uuid4())],
        ["42", "job:7", "a.b-c_d"],
        ["it's"],
        ["x" * 2000],
        ["ünïcode"],
        [],
    ],
)
def test_argsrepr_is_celerys(args) -> None:
    from celery.utils.saferepr import saferepr

    route = task_publish._Route(
        wire=None,  # type: ignore[arg-type]
        queue="q",
        time_limit=None,
        soft_time_limit=None,
        ignore_result=True,
        delivery_mode=2,
        argsrepr_maxsize=1024,
        maxlevels=3,
    )
    assert task_publish._argsrepr(route, args) == saferepr(args, 1024, maxlevels=3)
