"""A task published straight onto a Redis broker's queue, as Celery and kombu would publish it.

`Task.apply_async` costs about 0.5 ms of CPU on the web machine (Celery's option merging and
routing, its settings looked up through Django's on every call, kombu's producer pool, queue
declaration and message building, then redis-py): the largest single share of a submit after
the job's INSERT. For the simple case every submit has — a task sent from a web request, now,
with ids as arguments, to a Redis broker over plain TCP — `publish` builds the same message
(protocol 2, JSON, base64 body: the envelope kombu's Redis transport pushes) and sends one
LPUSH over a lean per-thread connection (veosaas.redis_wire). Everything else goes through
Celery: a countdown or ETA, a task sent from inside a task (it carries parent and root ids),
eager mode, another broker (RabbitMQ), transport options, priorities, queue arguments,
compression, other serializers, or any receiver of Celery's publish signals other than our
own (`veosaas.celery._context_to_headers`, which this module calls itself). The first message
of each task in each process also goes through Celery, which declares the queue.

tests/test_task_publish.py compares a message published here with Celery's own for the same
call, field by field, and has a real worker run it.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from celery import signals
from celery.utils.nodenames import anon_nodename
from celery.utils.saferepr import saferepr
from kombu import Queue

from veosaas.redis_wire import Wire

logger = logging.getLogger(__name__)

# The broker settings this module reproduces; anything else makes it step aside.
_TRANSPORT_OPTIONS_UNDERSTOOD = {"visibility_timeout"}
_DELIVERY_MODES = {"persistent": 2, "transient": 1, 2: 2, 1: 1}


@dataclass(frozen=True)
class _Route:
    """What Celery would decide for one task, worked out once per process."""

    wire: Wire
    queue: str
    time_limit: int | float | None
    soft_time_limit: int | float | None
    ignore_result: bool
    delivery_mode: int
    argsrepr_maxsize: int
    maxlevels: int


_routes: dict[str, _Route | None] = {}
_routes_lock = threading.Lock()


def _publish_signals() -> tuple[int, int]:
    """How many receivers Celery's publish signals have (connected ones only)."""
    return len(signals.before_task_publish.receivers), len(signals.after_task_publish.receivers)


def _signals_are_ours() -> bool:
    """Whether the only receiver of the publish signals is ours (which `_message` calls)."""
    from veosaas.celery import _context_to_headers

    live = signals.before_task_publish._live_receivers(sender=None)
    return _publish_signals() == (1, 0) and [getattr(r, "__wrapped__", r) for r in live] == [
        _context_to_headers
    ]


def _route_for(task: Any) -> _Route | None:
    """The task's route when this module can publish it exactly as Celery would, else None."""
    app, conf = task.app, task.app.conf
    url = conf.broker_write_url or conf.broker_url or ""
    if isinstance(url, (list, tuple)) or not url.startswith("redis://") or ";" in url:
        return None  # not Redis over plain TCP, or failover URLs
    if set(conf.broker_transport_options or {}) - _TRANSPORT_OPTIONS_UNDERSTOOD:
        return None
    if (
        conf.task_serializer != "json"
        or conf.task_compression
        or conf.task_protocol != 2
        or conf.task_send_sent_event
        or conf.task_default_priority is not None
        or conf.task_queue_max_priority is not None
    ):
        return None
    exec_options = {k: v for k, v in task._get_exec_options().items() if v is not None}
    if exec_options.pop("serializer", "json") != "json":
        return None
    if set(exec_options) - {"time_limit", "soft_time_limit"}:
        return None
    options = app.amqp.router.route({}, task.name, (), {}, task)
    queue = options.pop("queue", None)
    if (
        not isinstance(queue, Queue)
        or set(options)
        or queue.exchange is None
        or queue.exchange.type != "direct"
        or any(
            getattr(queue, name, None) not in (None, {})
            for name in ("queue_arguments", "max_priority", "expires", "message_ttl")
        )
    ):
        return None
    wire = Wire.for_pool(redis.ConnectionPool.from_url(url))
    if wire is None:
        return None
    mode = queue.exchange.delivery_mode or conf.task_default_delivery_mode
    if mode not in _DELIVERY_MODES:
        return None
    return _Route(
        wire=wire,
        queue=queue.name,
        time_limit=exec_options.get("time_limit"),
        soft_time_limit=exec_options.get("soft_time_limit"),
        ignore_result=bool(task.ignore_result),
        delivery_mode=_DELIVERY_MODES[mode],
        argsrepr_maxsize=app.amqp.argsrepr_maxsize,
        maxlevels=conf.task_repr_maxlevels,
    )


_UNSEEN = object()
_PLAIN = re.compile(r"[A-Za-z0-9_.:-]{0,64}")


def publish(task: Any, args: list[str]) -> bool:
    """Send `task(*args)` now; False (nothing sent) when Celery must send it instead.

    Raises redis-py's ConnectionError / TimeoutError when the broker cannot be reached (the
    caller falls back to Celery, which retries by its own policy)."""
    task = getattr(task, "_get_current_object", lambda: task)()  # shared tasks are proxies
    app = task.app
    if app.conf.task_always_eager or app.current_worker_task is not None:
        return False
    route = _routes.get(task.name, _UNSEEN)
    if route is _UNSEEN:
        with _routes_lock:
            if task.name not in _routes:
                _routes[task.name] = _route_for(task) if _signals_are_ours() else None
                return False  # the first message goes through Celery (it declares the queue)
        route = _routes[task.name]
    if not isinstance(route, _Route) or _publish_signals() != (1, 0):
        return False
    check_arguments = getattr(task, "__header__", None) if task.typing else None
    if check_arguments is not None:
        check_arguments(*args)  # the TypeError Celery raises for a wrong argument count
    route.wire.command("LPUSH", route.queue, _message(task, route, args))
    return True


def _argsrepr(route: _Route, args: list[str]) -> str:
    """Celery's `argsrepr`: what its saferepr gives, which for a few plain ids is `repr`."""
    if len(args) <= 8 and all(type(a) is str and _PLAIN.fullmatch(a) for a in args):
        return repr(args)
    return saferepr(args, route.argsrepr_maxsize, maxlevels=route.maxlevels)


def _message(task: Any, route: _Route, args: list[str]) -> bytes:
    from veosaas.celery import _context_to_headers

    task_id = str(uuid.uuid4())
    headers: dict[str, Any] = {
        "lang": "py",
        "task": task.name,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [route.time_limit, route.soft_time_limit],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": _argsrepr(route, args),
        "kwargsrepr": "{}",
        "origin": anon_nodename(),
        "ignore_result": route.ignore_result,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    _context_to_headers(headers=headers)
    body = json.dumps(
        [args, {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    ).encode()
    envelope = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": {
            "correlation_id": task_id,
            "reply_to": task.app.thread_oid,
            "delivery_mode": route.delivery_mode,
            "delivery_info": {"exchange": "", "routing_key": route.queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(envelope).encode()
