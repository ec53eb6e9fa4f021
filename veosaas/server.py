"""The gunicorn worker class of the web process: uvicorn serving veosaas/asgi.py.

gunicorn stays the process manager (workers, `gunicorn.conf.py`, graceful restarts); its
`keepalive` becomes uvicorn's `timeout_keep_alive` (uvicorn-worker maps it). Changes from
uvicorn's defaults, to behave as the threaded gunicorn workers did:
- no proxy-header rewriting: the client address is read by the app (veosaas/http.py,
  ACCOUNTS_TRUSTED_PROXY_COUNT), never replaced by the server from X-Forwarded-For;
- no access log of its own: the app writes one line per request (veosaas/middleware.py);
- open event streams are cut after `graceful_timeout` minus 5 s on shutdown, so a restart is
  never held by them; their clients reconnect and resume (generation/streams.py).
https://www.uvicorn.org/settings/
"""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "auto",
        "http": "auto",
        "proxy_headers": False,
        "access_log": False,
        "lifespan": "on",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.timeout_graceful_shutdown = max(1, int(self.cfg.graceful_timeout) - 5)
