"""What the loopback fakes of Google's APIs (`fake_vertex`, `fake_interactions`) share: the
recorded request, Google's status names, JSON answers, and the threaded HTTP server that
hands every request to a fake's `handle(method, path, headers, body)`.

`running(fake)` serves a fake on 127.0.0.1 (random port) for the duration of a block and sets
its `base_url`; `serve_forever(fake, port=...)` serves it in the foreground (`python -m`).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, TypeVar

Answer = tuple[int, dict[str, str], bytes]

# google.rpc.Code names of the HTTP statuses the fakes answer.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON or None


class Fake(Protocol):
    base_url: str

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> Answer: ...


F = TypeVar("F", bound=Fake)


def json_answer(status: int, payload: Any) -> Answer:
    return status, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(payload).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, response_headers, payload = self.server.fake.handle(
            self.command, self.path, headers, raw_body
        )
        self.send_response(status)
        for name, value in response_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve
    do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: Fake, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.fake = fake
        fake.base_url = f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is part of the scripts, not a server bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def running(fake: F) -> Iterator[F]:
    """Serve `fake` on 127.0.0.1 (random port) in a thread for the duration of the block."""
    server = FakeServer(fake)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve_forever(fake: Fake, *, port: int, what: str, api_key: str) -> None:
    """Serve `fake` on 127.0.0.1:`port` in the foreground (a local rehearsal)."""
    server = FakeServer(fake, port=port)
    print(f"fake {what} on {fake.base_url} (api key {api_key!r})", flush=True)  # noqa: T201
    server.serve_forever()
