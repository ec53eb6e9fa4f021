"""The web process's application (Procfile `web`: gunicorn with uvicorn workers, veosaas/server.py).

One base URL, two ways of serving:
- the live status streams (`EVENT_PATHS`) go to Django's ASGI handler and its async views, so an
  open stream costs a coroutine, not a thread;
- everything else goes to the unchanged WSGI application on a pool of WEB_THREADS threads per
  process (veosaas/wsgi_pool.py). Django's own ASGI handler would run every sync view through
  one thread-sensitive executor; the pool keeps the throughput of gunicorn's threaded workers.

The ASGI handler here runs sync code (middleware, authentication, snapshot reads) in asgiref's
one shared thread instead of a thread per request: a thread per open stream is what serving
streams from async views is meant to avoid, and these paths do little sync work each.
Middleware (request id, request log line, metrics, CSP) applies on both sides.
"""

import os
import re
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "veosaas.settings")

import django
from django.core.handlers.asgi import ASGIHandler

django.setup(set_prefix=False)

from veosaas.wsgi import application as wsgi_application  # noqa: E402
from veosaas.wsgi_pool import WSGIPool  # noqa: E402

# Keep in step with the stream routes (generation/urls.py).
EVENT_PATHS = re.compile(r"^/(?:api/v1/jobs|v1/videos)/[^/]+/events/?$")

Scope = dict[str, Any]


class SharedThreadASGIHandler(ASGIHandler):
    """Django's ASGI handler without a per-request ThreadSensitiveContext (see the module doc)."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django serves only HTTP, not {scope['type']}")
        await self.handle(scope, receive, send)


django_asgi = SharedThreadASGIHandler()
wsgi_pool = WSGIPool(wsgi_application, threads=int(os.environ.get("WEB_THREADS") or 4))


async def _lifespan(receive: Any, send: Any) -> None:
    from generation.changes import change_hubs_close

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await change_hubs_close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] != "http":
        await send({"type": "websocket.close", "code": 1000})
    elif EVENT_PATHS.match(scope["path"]):
        await django_asgi(scope, receive, send)
    else:
        await wsgi_pool(scope, receive, send)
