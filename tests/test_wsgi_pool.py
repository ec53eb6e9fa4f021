"""The web process's WSGI thread pool under ASGI (veosaas/wsgi_pool.py), driven with ASGI
messages: the environ a WSGI app sees, request bodies, small responses sent whole, large ones
streamed in pieces, and a client that leaves before its body arrived."""

from __future__ import annotations

import asyncio
from typing import Any

from veosaas.wsgi_pool import STREAM_CHUNK, WSGIPool

SCOPE = {
    "type": "http",
    "http_version": "1.1",
    "method": "POST",
    "scheme": "http",
    "path": "/api/caf\u00e9",
    "root_path": "",
    "query_string": b"a=1&b=2",
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", b"11"),
        (b"x-request-id", b"abc"),
        (b"accept", b"text/html"),
        (b"accept", b"application/json"),
    ],
    "client": ("127.0.0.9", 50123),
    "server": ("127.0.0.1", 8000),
}


def serve(app: Any, body_parts: list[bytes], scope: dict[str, Any] = SCOPE) -> list[dict]:
    incoming = [
        {"type": "http.request", "body": part, "more_body": i < len(body_parts) - 1}
        for i, part in enumerate(body_parts)
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(WSGIPool(app, threads=2)(scope, receive, send))
    return sent


def test_the_app_sees_a_wsgi_environ_and_the_whole_body() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict, start_response: Any) -> list[bytes]:
        seen.update(environ)
        seen["body"] = environ["wsgi.input"].read()
        start_response("201 Created", [("Content-Type", "text/plain"), ("X-A", "1")])
        return [b"made"]

    sent = serve(app, [b"hello", b" ", b"world"])
    assert seen["body"] == b"hello world"
    assert seen["REQUEST_METHOD"] == "POST"
    assert seen["PATH_INFO"] == "/api/caf\u00e9".encode().decode("latin-1")
    assert seen["QUERY_STRING"] == "a=1&b=2"
    assert seen["CONTENT_TYPE"] == "application/json" and seen["CONTENT_LENGTH"] == "11"
    assert seen["HTTP_X_REQUEST_ID"] == "abc"
    assert seen["HTTP_ACCEPT"] == "text/html,application/json"
    assert (seen["REMOTE_ADDR"], seen["SERVER_PORT"]) == ("127.0.0.9", "8000")
    assert seen["wsgi.url_scheme"] == "http" and seen["wsgi.multithread"] is True
    # A small response leaves whole: its start, then one body message.
    assert sent == [
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"text/plain"), (b"x-a", b"1")],
        },
        {"type": "http.response.body", "body": b"made"},
    ]


def test_a_large_response_is_streamed_in_pieces() -> None:
    total = 5 * STREAM_CHUNK + 123

    def app(environ: dict, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "video/mp4")])
        sent_bytes = 0
        while sent_bytes < total:
            piece = min(4096, total - sent_bytes)
            sent_bytes += piece
            yield b"x" * piece

    sent = serve(app, [b""])
    assert sent[0]["type"] == "http.response.start"
    bodies = sent[1:]
    assert len(bodies) == 6  # five full pieces, then the rest with the end
    assert all(m["more_body"] for m in bodies[:-1]) and "more_body" not in bodies[-1]
    assert sum(len(m["body"]) for m in bodies) == total


def test_a_client_gone_before_its_body_arrived_runs_nothing() -> None:
    calls = []

    def app(environ: dict, start_response: Any) -> list[bytes]:
        calls.append(1)
        start_response("200 OK", [])
        return [b""]

    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(WSGIPool(app, threads=1)(SCOPE, receive, send))
    assert calls == [] and sent == []
