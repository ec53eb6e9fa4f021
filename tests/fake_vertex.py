"""A fake Vertex AI (Veo 3.1) plus Cloud Storage, speaking Google's REST contract closely
enough for the real google-genai 3.x SDK in Vertex mode.

Endpoints (paths as google-genai 3.x builds them with `HttpOptions(base_url=...)`; `{p}` is
`v1beta1/` in express mode, `v1beta1/projects/{project}/locations/{location}/` with a project;
https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/veo-video-generation):

- `POST /{p}publishers/google/models/{model}:predictLongRunning` records the request and
  answers `{"name": "{p}publishers/google/models/{model}/operations/{id}"}` (without the
  version);
- `POST /{p}publishers/google/models/{model}:fetchPredictOperation` with
  `{"operationName": name}` answers `{"name", "done": false}` for `script.polls_until_done`
  polls, then the scripted result: one video inline (`response.videos[0].bytesBase64Encoded`)
  or in Cloud Storage (`gcsUri`, under the request's `parameters.storageUri`), a safety block
  (`raiMediaFilteredCount` / `raiMediaFilteredReasons`, no videos), an operation `error`, or
  an empty response; an unknown operation answers 404;
- `GET /storage/v1/b/{bucket}/o/{object}?alt=media` (Cloud Storage JSON API) serves the
  MP4 of a finished operation that wrote there.

Every request must carry `x-goog-api-key` (express mode) or the Bearer token that
`POST /token` (the OAuth token endpoint a service account key's `token_uri` names) issued; a
wrong key gets Google's 400 API_KEY_INVALID answer. Errors use
`{"error": {"code", "message", "status"}}`.

Use `running_fake_vertex(mp4=..., api_key=...)` from a pytest fixture, and `tiny_mp4()` for
real MP4 bytes that PyAV can probe. `python -m tests.fake_vertex` serves it on its own.
"""

from __future__ import annotations

import base64
import contextlib
import fractions
import functools
import io
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import av
import numpy as np

from tests.fake_google_http import (
    STATUS_NAMES,
    Answer,
    RecordedRequest,
    json_answer,
    running,
    serve_forever,
)

_PREFIX = r"^/(?P<version>v1|v1beta1)/(?P<scope>projects/[^/]+/locations/[^/]+/)?"
SUBMIT_RE = re.compile(_PREFIX + r"publishers/google/models/(?P<model>[^/:]+):predictLongRunning$")
FETCH_RE = re.compile(
    _PREFIX + r"publishers/google/models/(?P<model>[^/:]+):fetchPredictOperation$"
)
OPERATION_NAME_RE = re.compile(
    r"^(?P<scope>projects/[^/]+/locations/[^/]+/)?publishers/google/models/(?P<model>[^/:]+)"
    r"/operations/(?P<op>[A-Za-z0-9_-]+)$"
)
STORAGE_RE = re.compile(r"^/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<object>.+)$")

RESPONSE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
DEFAULT_BLOCK_REASONS = [
    "Veo could not generate videos because the input image violates Veo's usage guidelines. "
    "You have not been charged for this attempt."
]


@dataclass
class Script:
    """What the fake answers. Tests change it before (or between) calls.

    `*_errors` lists HTTP statuses answered to successive calls of that kind before normal
    answers resume; `always_status` answers every Vertex call with that status; `malformed`
    names the kinds ("submit", "poll") answered with 200 and a body that is not JSON.
    """

    polls_until_done: int = 1
    result: str = "video"  # video | blocked | error | empty
    block_reasons: list[str] = field(default_factory=lambda: list(DEFAULT_BLOCK_REASONS))
    operation_error: dict[str, Any] = field(
        default_factory=lambda: {"code": 3, "message": "Unsupported input for this model."}
    )
    submit_errors: list[int] = field(default_factory=list)
    poll_errors: list[int] = field(default_factory=list)
    download_errors: list[int] = field(default_factory=list)
    always_status: int | None = None
    malformed: set[str] = field(default_factory=set)
    retry_after: str | None = "7"  # Retry-After header sent with 429 answers
    retry_delay: str | None = None  # google.rpc.RetryInfo.retryDelay in 429 bodies, e.g. "30s"
    delay_seconds: float = 0.0  # sleep before answering any Vertex call


class FakeVertex:
    """The server's state: script, recorded requests, operations and stored objects."""

    def __init__(self, *, mp4: bytes, api_key: str) -> None:
        self.mp4 = mp4
        self.api_key = api_key
        self.script = Script()
        self.requests: list[RecordedRequest] = []
        # op id -> {"model", "polls", "storage_uri"}
        self.operations: dict[str, dict[str, Any]] = {}
        self.objects: dict[tuple[str, str], bytes] = {}  # (bucket, object) -> bytes
        self.base_url = ""
        # The OAuth access token `POST /token` issues for a service account (a JWT bearer grant).
        self.access_token = "ya29.fake-" + secrets.token_hex(8)
        self._lock = threading.Lock()

    def submits(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith(":predictLongRunning")]

    def polls(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith(":fetchPredictOperation")]

    def last_submit_body(self) -> dict[str, Any]:
        return self.submits()[-1].body

    # -- request handling (called from server threads) ---------------------------------------

    def handle(
        self,
        method: str,
        raw_path: str,
        headers: dict[str, str],
        raw_body: bytes,
    ) -> Answer:
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query)
        body: Any = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = raw_body.decode("utf-8", "replace")
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, headers, body))

        if method == "POST" and path == "/token":
            # Google's OAuth 2.0 token endpoint for a service account key's signed JWT.
            grant = parse_qs(body if isinstance(body, str) else raw_body.decode())
            if grant.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
                return json_answer(400, {"error": "unsupported_grant_type"})
            token = {"access_token": self.access_token, "token_type": "Bearer", "expires_in": 3600}
            return json_answer(200, token)
        authorized = headers.get("x-goog-api-key") == self.api_key or (
            headers.get("authorization") == f"Bearer {self.access_token}"
        )
        if not authorized:
            return _error(
                400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"
            )
        if method == "GET" and (match := STORAGE_RE.match(path)):
            return self._download(match["bucket"], unquote(match["object"]), query)
        if self.script.delay_seconds:
            time.sleep(self.script.delay_seconds)
        if self.script.always_status is not None:
            return self._status(self.script.always_status)
        if method == "POST" and (match := SUBMIT_RE.match(path)):
            return self._submit(match["scope"] or "", match["model"], body)
        if method == "POST" and (match := FETCH_RE.match(path)):
            return self._poll(match["model"], body)
        return _error(404, f"Method or path not found: {method} {path}")

    def _status(self, status: int) -> Answer:
        extra = {}
        if status == 429 and self.script.retry_after:
            extra["Retry-After"] = self.script.retry_after
        message = {
            429: "Resource exhausted. Please try again later.",
            500: "Internal error encountered.",
            503: "The service is currently unavailable.",
        }.get(status, "Request failed.")
        retry_info = None
        if status == 429 and self.script.retry_delay:
            retry_info = {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": self.script.retry_delay,
            }
        code, headers, payload = _error(status, message, extra_detail=retry_info)
        return code, {**headers, **extra}, payload

    def _submit(self, scope: str, model: str, body: Any) -> Answer:
        if self.script.submit_errors:
            return self._status(self.script.submit_errors.pop(0))
        if "submit" in self.script.malformed:
            return _malformed()
        if not isinstance(body, dict) or not body.get("instances"):
            return _error(400, "Invalid JSON payload: instances is required.")
        op_id = secrets.token_hex(6)
        storage_uri = (body.get("parameters") or {}).get("storageUri") or ""
        with self._lock:
            self.operations[op_id] = {"model": model, "polls": 0, "storage_uri": storage_uri}
        return json_answer(
            200, {"name": f"{scope}publishers/google/models/{model}/operations/{op_id}"}
        )

    def _poll(self, model: str, body: Any) -> Answer:
        if self.script.poll_errors:
            return self._status(self.script.poll_errors.pop(0))
        if "poll" in self.script.malformed:
            return _malformed()
        name = str((body or {}).get("operationName", "")) if isinstance(body, dict) else ""
        match = OPERATION_NAME_RE.match(name)
        operation = self.operations.get(match["op"]) if match else None
        if match is None or operation is None or operation["model"] != model:
            return _error(404, f"Operation {name} not found.")
        with self._lock:
            operation["polls"] += 1
            polls = operation["polls"]
        if polls <= self.script.polls_until_done:
            return json_answer(200, {"name": name, "done": False})
        result = self.script.result
        if result == "error":
            return json_answer(
                200, {"name": name, "done": True, "error": self.script.operation_error}
            )
        response: dict[str, Any] = {"@type": RESPONSE_TYPE}
        if result == "video":
            if operation["storage_uri"]:
                bucket, _, prefix = operation["storage_uri"].removeprefix("gs://").partition("/")
                obj = f"{prefix.rstrip('/') + '/' if prefix else ''}{match['op']}/sample_0.mp4"
                self.objects[(bucket, obj)] = self.mp4
                response["videos"] = [{"gcsUri": f"gs://{bucket}/{obj}", "mimeType": "video/mp4"}]
            else:
                encoded = base64.b64encode(self.mp4).decode()
                response["videos"] = [{"bytesBase64Encoded": encoded, "mimeType": "video/mp4"}]
        elif result == "blocked":
            response["raiMediaFilteredCount"] = 1
            response["raiMediaFilteredReasons"] = list(self.script.block_reasons)
        return json_answer(200, {"name": name, "done": True, "response": response})

    def _download(self, bucket: str, obj: str, query: dict[str, list[str]]) -> Answer:
        if self.script.download_errors:
            return self._status(self.script.download_errors.pop(0))
        data = self.objects.get((bucket, obj))
        if data is None or query.get("alt") != ["media"]:
            return _error(404, f"No such object: {bucket}/{obj}")
        return 200, {"Content-Type": "video/mp4"}, data


def _error(
    status: int, message: str, *, reason: str = "", extra_detail: dict[str, str] | None = None
) -> Answer:
    """Google's error envelope (https://cloud.google.com/apis/design/errors#http_mapping)."""
    details: list[dict[str, str]] = []
    if reason:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
            }
        )
    if extra_detail:
        details.append(extra_detail)
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return json_answer(status, {"error": error})


def _malformed() -> Answer:
    return (
        200,
        {"Content-Type": "application/json; charset=UTF-8"},
        b'{"name": "publishers/google/models/veo-3',
    )


@contextlib.contextmanager
def running_fake_vertex(*, mp4: bytes, api_key: str = "test-key") -> Iterator[FakeVertex]:
    """Serve a fresh `FakeVertex` on 127.0.0.1 (random port) for the duration of the block."""
    with running(FakeVertex(mp4=mp4, api_key=api_key)) as fake:
        yield fake


@functools.cache
def tiny_mp4(width: int = 1280, height: int = 720, seconds: int = 1, fps: int = 24) -> bytes:
    """A real H.264 + AAC MP4 (a moving gradient, silence), small and quick to encode."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "35"}
        audio = container.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        ramp = np.tile(np.linspace(0, 255, width, dtype=np.uint8), (height, 1))
        for index in range(seconds * fps):
            rgb = np.stack([np.roll(ramp, index * 8, axis=1), ramp, np.full_like(ramp, 96)], axis=2)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            frame.time_base = fractions.Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        samples_per_frame = 1024
        for index in range(seconds * 48000 // samples_per_frame):
            silence = np.zeros((2, samples_per_frame), dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(silence, format="fltp", layout="stereo")
            frame.sample_rate = 48000
            frame.pts = index * samples_per_frame
            container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return buffer.getvalue()


def main() -> None:
    """Serve the fake on its own, for a local rehearsal of the vertex provider:

        .venv/bin/python -m tests.fake_vertex --port 8766 &
        GENERATION_PROVIDER=vertex VERTEX_API_KEY=test-key \\
            VERTEX_BASE_URL=http://127.0.0.1:8766 VERTEX_STORAGE_BASE_URL=http://127.0.0.1:8766 \\
            make run
    """
    import argparse

    parser = argparse.ArgumentParser(description="A fake Vertex AI (Veo) on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--polls", type=int, default=2, help="polls before an operation is done")
    parser.add_argument("--result", default="video", choices=["video", "blocked", "error"])
    args = parser.parse_args()
    fake = FakeVertex(mp4=tiny_mp4(), api_key=args.api_key)
    fake.script.polls_until_done = args.polls
    fake.script.result = args.result
    serve_forever(fake, port=args.port, what="Vertex AI", api_key=args.api_key)


if __name__ == "__main__":
    main()
