"""The WSGI application served under ASGI on a pool of threads (veosaas/asgi.py).

Why not a generic WSGI-to-ASGI adapter: those hand every piece of a response (status line,
each body chunk, the end) from the worker thread to the event loop and wait for it, three
thread hand-offs per small request, each of which waits for the loop thread to get the GIL
from busy worker threads. Measured on the status path that cost most of the throughput of
gunicorn's threaded workers (bench/bench_events.py). Here a request costs one hand-off each
way, as in a threaded server:

- the request body is read by the event loop before the app runs (into a temporary file that
  spills to disk past FILE_UPLOAD_MAX_MEMORY_SIZE, as Django's own ASGI handler does), so the
  app never waits on the loop for input;
- the response is collected in the worker thread and sent by the loop once the app returns;
  a large one (media files) is sent in STREAM_CHUNK pieces while the app still produces it.

WSGI: https://peps.python.org/pep-3333/  ASGI HTTP: https://asgi.readthedocs.io/en/latest/specs/www.html
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings

STREAM_CHUNK = 256 * 1024
Message = dict[str, Any]
Send = Callable[[Message], Coroutine[Any, Any, None]]
Receive = Callable[[], Awaitable[Message]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Disconnected(Exception):
    pass


async def _read_body(receive: Receive) -> Any:
    message = await receive()
    if message["type"] == "http.disconnect":
        raise _Disconnected
    if not message.get("more_body", False):  # most requests: the whole body in one message
        return io.BytesIO(message.get("body", b""))
    body = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115
    body.write(message.get("body", b""))
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            body.close()
            raise _Disconnected
        body.write(message.get("body", b""))
    body.seek(0)
    return body


def _environ(scope: dict[str, Any], body: Any) -> dict[str, Any]:
    root = scope.get("root_path", "")
    path = scope["path"].removeprefix(root) if root else scope["path"]
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        # WSGI strings are bytes read as latin-1; ASGI paths are already percent-decoded.
        "SCRIPT_NAME": root.encode().decode("latin-1"),
        "PATH_INFO": path.encode().decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = str(client[0]), str(client[1])
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


class _Exchange:
    """One request's response: collected in the worker thread, sent by the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, send: Send) -> None:
        self.loop = loop
        self.send = send
        self.start: Message | None = None
        self.started = False  # the start message went out (streaming a large response)
        self.chunks: list[bytes] = []
        self.size = 0

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None and self.started:
            raise exc_info[1].with_traceback(exc_info[2])
        self.start = {
            "type": "http.response.start",
            "status": int(status.split(" ", 1)[0]),
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        }
        return self.write

    def _send_from_thread(self, message: Message) -> None:
        asyncio.run_coroutine_threadsafe(self.send(message), self.loop).result()

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.chunks.append(chunk)
        self.size += len(chunk)
        if self.size >= STREAM_CHUNK:
            if not self.started:
                if self.start is None:
                    raise RuntimeError("the WSGI app wrote a body before start_response")
                self._send_from_thread(self.start)
                self.started = True
            body = b"".join(self.chunks)
            self.chunks, self.size = [], 0
            self._send_from_thread({"type": "http.response.body", "body": body, "more_body": True})

    def run(self, app: WSGIApp, environ: dict[str, Any]) -> None:
        iterable = app(environ, self.start_response)
        try:
            for chunk in iterable:
                self.write(chunk)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()

    async def finish(self) -> None:
        if self.start is None:
            raise RuntimeError("the WSGI app returned without start_response")
        if not self.started:
            await self.send(self.start)
        await self.send({"type": "http.response.body", "body": b"".join(self.chunks)})


class WSGIPool:
    """An ASGI application running `app` on `threads` threads (see the module doc)."""

    def __init__(self, app: WSGIApp, *, threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        try:
            body = await _read_body(receive)
        except _Disconnected:
            return
        loop = asyncio.get_running_loop()
        exchange = _Exchange(loop, send)
        context = contextvars.copy_context()
        try:
            await loop.run_in_executor(
                self.executor, context.run, exchange.run, self.app, _environ(scope, body)
            )
        finally:
            body.close()
        await exchange.finish()
