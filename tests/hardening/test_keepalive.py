"""The web server keeps idle connections longer than common client pools (Node's fetch keeps
them 4-5 s), so a reused connection is never one the server has just closed."""

from __future__ import annotations

import socket
import time

import pytest

from tests.processes import running_stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

REQUEST = b"GET /healthz/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"


def _exchange(sock: socket.socket) -> bytes:
    sock.sendall(REQUEST)
    data = b""
    while b'{"status": "ok"}' not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_an_idle_connection_is_still_usable_after_six_seconds(tmp_path) -> None:
    with running_stack(tmp_path, worker=False) as stack:
        sock = socket.create_connection(("127.0.0.1", stack.port), timeout=10)
        try:
            assert _exchange(sock).startswith(b"HTTP/1.1 200")
            time.sleep(6)  # longer than Node's idle pool; gunicorn's default closes after 2 s
            assert _exchange(sock).startswith(b"HTTP/1.1 200")
        finally:
            sock.close()
