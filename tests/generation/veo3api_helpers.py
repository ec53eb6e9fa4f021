"""Helpers shared by the veo3api / callback tests: DNS stub, a local HTTP receiver, running a
job to completion in-process."""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from generation.models import Job
from generation.providers.base import Completed
from generation.services import job_run, job_succeed

PUBLIC_IP = "93.184.216.34"


def fake_getaddrinfo(answers: dict[str, str]):
    """A stand-in for socket.getaddrinfo answering `answers` (host → one address); loopback
    literals resolve to themselves, any other name does not resolve."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host in answers:
            address = answers[host]
            if ipaddress.ip_address(address).version == 6:
                return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        if host in ("127.0.0.1", "localhost"):
            return real(host, port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    return getaddrinfo


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A callback receiver on 127.0.0.1. `script` holds (status, headers) answers popped per
    request (the last one repeats); paths under /target only count hits."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=lambda: [(200, {})])
    target_hits: int = 0
    delay: float = 0.0
    reply: bytes = b'{"ok":true}'

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 120.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return self.received
            time.sleep(0.1)
        raise AssertionError(f"expected {count} callbacks, got {len(self.received)}")


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.startswith("/target"):
                receiver.target_hits += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            receiver.received.append(Received(self.path, dict(self.headers.items()), body))
            if receiver.delay:
                time.sleep(receiver.delay)
            status, headers = (
                receiver.script.pop(0) if len(receiver.script) > 1 else receiver.script[0]
            )
            reply = receiver.reply
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_POST = _answer
        do_GET = _answer

    return Handler


@contextmanager
def receiver_running(port: int = 0) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler)
    receiver = Receiver(server=server)
    server.RequestHandlerClass = _handler(receiver)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def run_job(job_id: Any) -> Job:
    """Run a queued job through its provider in this process, as a worker would."""
    job_run(job_id=str(job_id))
    return Job.objects.get(pk=job_id)


def succeed_with_copy(job: Job, source: Job, tmp_path: Path, *, width: int, height: int) -> Job:
    """Finish a queued job with a copy of `source`'s video as its result (for slow renders
    such as 4K, whose pixels the API tests do not look at)."""
    from django.core.files.storage import default_storage

    Job.objects.filter(pk=job.pk).update(state=Job.State.RUNNING)
    video = tmp_path / f"{job.pk}.mp4"
    with default_storage.open(source.video_file, "rb") as src, video.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    job_succeed(
        job_id=job.pk,
        result=Completed(
            video_path=video,
            width=width,
            height=height,
            duration_seconds=source.output_duration or 4,
        ),
        render_seconds=1.0,
    )
    return Job.objects.get(pk=job.pk)
