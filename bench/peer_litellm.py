"""LiteLLM's proxy as an optional peer of the submit's web CPU (a row of bench_submit).

LiteLLM is a bench extra, never a dependency of ours: `make bench-peers` installs the pinned
version of bench/peers.txt into its own venv, `.venv-peers/` (its proxy extra needs an older
gunicorn than ours). The binary used is $LITELLM_BIN, else `.venv-peers/bin/litellm`; with
neither, the row says it was skipped.

What is measured: `POST /v1/videos` (an OpenAI-shaped video create) on LiteLLM's proxy, one
uvicorn worker, routed to a fake OpenAI Videos upstream that runs on loopback in this process
(its CPU is not counted). CPU is utime + stime from /proc of the proxy process and all its
descendants, before and after N creates from 8 keep-alive client threads, as for our submit.

The proxy is started in a scratch directory with a scrubbed environment (none of ours: no
DATABASE_URL, REDIS_*, HTTP(S)_PROXY or settings), so it runs without a database or Redis, and
with what would reach beyond loopback turned off: the remote model cost map fetched at import
(LITELLM_LOCAL_MODEL_COST_MAP), telemetry, and the `.env` search (LITELLM_MODE=PRODUCTION; in
DEV mode it walks up from its own package, which under `.venv-peers/` finds our `.env`). The
model-info refresh (a GET to the upstream every 5 minutes) is off too, to keep it out of the
figures. Traced once: the proxy's only connections go to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.common import in_threads, load_average

ROOT = Path(__file__).resolve().parent.parent
PEERS_VENV = ROOT / ".venv-peers"
MODEL = "sora-2"
THREADS = 8
WARMUP = 40
START_SECONDS = 180.0
NAME = "submit web CPU vs LiteLLM proxy create (peer, fake upstream)"
BODY = json.dumps({"model": MODEL, "prompt": "bench submit"}).encode()
_TICK = os.sysconf("SC_CLK_TCK")


def litellm_bin() -> Path | None:
    """$LITELLM_BIN when it names a file, else the peers venv's `litellm`, else None."""
    explicit = os.environ.get("LITELLM_BIN")
    candidates = [Path(explicit)] if explicit else []
    candidates.append(PEERS_VENV / "bin" / "litellm")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


# --- the fake upstream: OpenAI's Videos API, create only ------------------------------------


def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The text fields of a multipart/form-data or JSON body (LiteLLM sends multipart)."""
    if content_type.startswith("application/json"):
        data = json.loads(body or b"{}")
        return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    boundary = content_type.partition("boundary=")[2].strip('"')
    if not boundary:
        return {}
    fields: dict[str, str] = {}
    for part in body.split(b"--" + boundary.encode()):
        head, sep, value = part.partition(b"\r\n\r\n")
        if not sep or b"filename=" in head:
            continue
        marker = b'name="'
        start = head.find(marker)
        if start < 0:
            continue
        name = head[start + len(marker) :].split(b'"', 1)[0].decode()
        fields[name] = value.removesuffix(b"\r\n").decode(errors="replace")
    return fields


def video_object(fields: dict[str, str]) -> dict[str, object]:
    """A just-created `video` as OpenAI's Videos API answers a create."""
    return {
        "id": f"video_{secrets.token_hex(12)}",
        "object": "video",
        "model": fields.get("model", MODEL),
        "status": "queued",
        "progress": 0,
        "created_at": int(time.time()),
        "completed_at": None,
        "expires_at": None,
        "size": fields.get("size", "720x1280"),
        "seconds": fields.get("seconds", "4"),
        "remixed_from_video_id": None,
        "error": None,
    }


class _UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as LiteLLM's pooled client expects

    def _answer(self, status: int, payload: dict[str, object]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/v1/videos":
            self._answer(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        fields = form_fields(self.headers.get("Content-Type", ""), body)
        server = self.server
        if isinstance(server, FakeUpstream):
            server.count_create()
        self._answer(200, video_object(fields))

    def do_GET(self) -> None:
        self._answer(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def log_message(self, format: str, *args: object) -> None:
        pass


class FakeUpstream(ThreadingHTTPServer):
    """OpenAI's `POST /v1/videos` on 127.0.0.1 (an ephemeral port), served from a thread."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)
        self.creates = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def count_create(self) -> None:
        with self._lock:
            self.creates += 1

    def __enter__(self) -> FakeUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


# --- the proxy -------------------------------------------------------------------------------


def write_config(directory: Path, api_base: str, master_key: str) -> Path:
    """LiteLLM's proxy config: one model routed to `api_base`. JSON is valid YAML."""
    config = {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": f"openai/{MODEL}",
                    "api_base": api_base,
                    "api_key": "fake",
                },
            }
        ],
        "general_settings": {"master_key": master_key, "disable_model_info_refresh": True},
    }
    path = directory / "litellm-config.yaml"
    path.write_text(json.dumps(config, indent=2))
    return path


def proxy_env(binary: Path, home: Path) -> dict[str, str]:
    """The whole environment of the proxy: nothing of ours, no route to the internet."""
    return {
        "PATH": f"{binary.parent}:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY_DISABLED": "true",
        "LITELLM_MODE": "PRODUCTION",
    }


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, chars: int = 300) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " ".join(text[-chars:].split())


@contextmanager
def running_proxy(binary: Path, config: Path, workdir: Path) -> Iterator[tuple[int, int]]:
    """Start LiteLLM's proxy (1 uvicorn worker); yield its port and pid once it answers."""
    port = _free_port()
    log = workdir / "litellm.log"
    args = [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*args, "--num_workers", "1"],
            cwd=workdir,
            env=proxy_env(binary, workdir),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(proc, port, log)
        yield port, proc.pid
    finally:
        _stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"LiteLLM exited ({proc.returncode}): {_tail(log)}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health/liveliness")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"LiteLLM did not answer within {START_SECONDS:.0f} s: {_tail(log)}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def tree_ticks(root: int) -> int:
    """CPU clock ticks of `root` and every descendant (utime + stime, plus the reaped
    children's cutime + cstime), read from /proc."""
    total, pending, seen = 0, [root], set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited between the listing and the read
    return total


def send_creates(port: int, master_key: str, count: int) -> None:
    """`count` creates from THREADS keep-alive connections; raises on any non-video answer."""
    per_thread = [count // THREADS + (1 if i < count % THREADS else 0) for i in range(THREADS)]
    errors: list[str] = []
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {master_key}"}

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for _ in range(per_thread[index]):
                conn.request("POST", "/v1/videos", body=BODY, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                if response.status != 200 or b'"object":"video"' not in payload.replace(b" ", b""):
                    errors.append(f"/v1/videos answered {response.status} {payload[:160]!r}")
                    return
        except OSError as exc:
            errors.append(f"/v1/videos: {exc}")
        finally:
            conn.close()

    in_threads(worker, THREADS)
    if errors:
        raise RuntimeError(errors[0])


class Peer:
    """A running, warmed-up proxy: `round(count)` sends `count` creates and answers the
    proxy's milliseconds of CPU per create."""

    def __init__(self, port: int, root: int, master_key: str, upstream: FakeUpstream) -> None:
        self.port, self.root, self.master_key, self.upstream = port, root, master_key, upstream
        self.sent = 0

    def round(self, count: int) -> float:
        before = tree_ticks(self.root)
        send_creates(self.port, self.master_key, count)
        self.sent += count
        return (tree_ticks(self.root) - before) / _TICK * 1000 / count


@contextmanager
def running_peer() -> Iterator[Peer | str]:
    """LiteLLM's proxy running and warmed up beside our server, so that the two are measured in
    alternating rounds under the same load; or, when it is not installed or does not start,
    the reason (a string) for the row to say."""
    binary = litellm_bin()
    if binary is None:
        yield "skipped: LiteLLM not installed (make bench-peers)"
        return
    version = litellm_version(binary)
    master_key = f"sk-bench-{secrets.token_hex(8)}"
    with tempfile.TemporaryDirectory(prefix="litellm-peer-") as tmp, FakeUpstream() as upstream:
        workdir = Path(tmp)
        config = write_config(workdir, upstream.api_base, master_key)
        try:
            proxy = running_proxy(binary, config, workdir)
            port, root = proxy.__enter__()
        except Exception as exc:
            yield f"LiteLLM {version} failed: {exc}"
            return
        try:
            send_creates(port, master_key, WARMUP)
            peer = Peer(port, root, master_key, upstream)
            yield peer
            if upstream.creates < WARMUP + peer.sent:
                raise RuntimeError(f"the upstream saw {upstream.creates} creates, fewer than sent")
        finally:
            proxy.__exit__(None, None, None)


def measure(count: int, rounds: int) -> list[float] | str:
    """LiteLLM's CPU per create alone, one figure per round (or why there is none)."""
    with running_peer() as peer:
        if isinstance(peer, str):
            return peer
        try:
            return [peer.round(count) for _ in range(rounds)]
        except Exception as exc:
            return f"LiteLLM failed: {exc}"


def litellm_version(binary: Path) -> str:
    """The installed version, from the dist-info next to the binary's venv."""
    venv = binary.resolve().parent.parent
    for info in venv.glob("lib/python*/site-packages/litellm-*.dist-info"):
        return info.name.removeprefix("litellm-").removesuffix(".dist-info")
    return "?"


def peer_rows(
    ours_ms: float, count: int, rounds: int, theirs: list[float] | str | None = None
) -> list[dict[str, object]]:
    """The peer row: our submit's CPU per request against LiteLLM's per create. `theirs`: the
    proxy's figures measured in rounds alternating with ours (or why there are none); when
    not given, it is measured now, alone."""
    row: dict[str, object] = {"name": NAME, "value": ours_ms, "unit": "ms", "goal": "<= 0.5"}
    if theirs is None:
        theirs = measure(count, rounds)
    if isinstance(theirs, str):
        print(f"# bench_submit: LiteLLM peer row {theirs}", flush=True)
        return [{**row, "note": theirs[:400]}]
    binary = litellm_bin()
    version = litellm_version(binary) if binary is not None else "?"
    median = statistics.median(theirs)
    note = (
        f"baseline: LiteLLM {version} proxy, 1 uvicorn worker, POST /v1/videos to a loopback "
        f"fake upstream, /proc CPU of the proxy and its descendants; ours: gunicorn 1x4 "
        f"submit; medians of {len(theirs)} x {count} requests each, rounds alternating, "
        f"{THREADS} client threads"
    )
    return [
        {**row, "baseline": median, "ratio": ours_ms / median, "note": note, "load": load_average()}
    ]
