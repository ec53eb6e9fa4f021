"""A fake Gemini Interactions API (Gemini Omni Flash video), close enough to Google's REST
contract for the real google-genai 3.x SDK, on the Gemini API and on Vertex.

Endpoints (paths as google-genai 3.6.1 builds them with `HttpOptions(base_url=...)`; `{v}` is
`v1` on the Gemini API, `v1beta1` on Vertex; https://ai.google.dev/gemini-api/docs/omni,
https://ai.google.dev/api/interactions):

- `POST /{v}/interactions` records the request and answers the interaction
  `{"id", "status": "in_progress", "model", "created"}`; `background` must be true;
- `GET /{v}/interactions/{id}?stream=false` answers `in_progress` for
  `script.polls_until_done` polls, then the scripted outcome: `completed` with the video in
  `steps[-1].content` (`{"type": "video", "data": <base64>}` or `"uri"` with
  `delivery: "uri"`), `failed` with `errors` (a safety code, or an argument error),
  `incomplete` / `budget_exceeded` (with the part delivered so far, or nothing),
  `requires_action`, `cancelled`; `usage.total_output_tokens` counts 5792 tokens per second;
- `POST /{v}/interactions/{id}/cancel` marks it `cancelled` (unless it already ended) and
  answers it;
- `GET /{v}/files/{id}:download?alt=media` serves the video of `uri` delivery.

Every request must carry `x-goog-api-key` (a Bearer token is accepted for Vertex). Errors use
the Interactions envelope `{"error": {"code": "<STATUS NAME>", "message"}}`. What Google
returns for a safety block here is not documented; the fake answers `failed` with
`errors[0].code = "PROHIBITED_CONTENT"`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fake_google_http import (
    STATUS_NAMES,
    Answer,
    RecordedRequest,
    json_answer,
    running,
    serve_forever,
)
from tests.fake_vertex import tiny_mp4

_V = r"^/(?P<version>v1|v1beta|v1beta1)/(?:projects/[^/]+/locations/[^/]+/)?"
CREATE_RE = re.compile(_V + r"interactions$")
GET_RE = re.compile(_V + r"interactions/(?P<id>[A-Za-z0-9_-]+)$")
CANCEL_RE = re.compile(_V + r"interactions/(?P<id>[A-Za-z0-9_-]+)/cancel$")
FILE_RE = re.compile(_V + r"files/(?P<id>[a-z0-9]+):download$")
MODELS = ("gemini-omni-1.2-flash", "gemini-omni-1.1-flash")
TOKENS_PER_SECOND = 5792


@dataclass
class Script:
    polls_until_done: int = 1
    # completed | blocked | error | incomplete | budget_exceeded | requires_action | cancelled
    result: str = "completed"
    with_partial_video: bool = True  # incomplete / budget_exceeded deliver the part made so far
    create_errors: list[int] = field(default_factory=list)
    poll_errors: list[int] = field(default_factory=list)
    cancel_errors: list[int] = field(default_factory=list)
    always_status: int | None = None


def _error(status: int, message: str) -> Answer:
    """The Interactions API's error envelope: `code` is a string (google-genai 3.6.1 refuses an
    integer there), no `status` field."""
    code = STATUS_NAMES.get(status, "UNKNOWN")
    return json_answer(status, {"error": {"code": code, "message": message}})


class FakeInteractions:
    def __init__(self, *, mp4: bytes, api_key: str) -> None:
        self.mp4 = mp4
        self.delivered_mp4 = mp4  # what a finished interaction serves (shorter: fewer seconds)
        self.api_key = api_key
        self.script = Script()
        self.requests: list[RecordedRequest] = []
        self.interactions: dict[str, dict[str, Any]] = {}
        self.base_url = ""
        self._lock = threading.Lock()

    def creates(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and CREATE_RE.match(r.path)]

    def cancels(self) -> list[RecordedRequest]:
        return [r for r in self.requests if CANCEL_RE.match(r.path)]

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> Answer:
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query)
        body: Any = json.loads(raw_body) if raw_body else None
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, headers, body))
        if headers.get("x-goog-api-key") != self.api_key and not headers.get(
            "authorization", ""
        ).startswith("Bearer "):
            return _error(400, "API key not valid. Please pass a valid API key.")
        if self.script.always_status is not None:
            return _error(self.script.always_status, "Service unavailable.")
        if method == "POST" and (match := CREATE_RE.match(path)):
            return self._create(body)
        if method == "POST" and (match := CANCEL_RE.match(path)):
            return self._cancel(match["id"])
        if method == "GET" and (match := GET_RE.match(path)):
            return self._get(match["id"])
        if method == "GET" and (match := FILE_RE.match(path)):
            known = {i["file"] for i in self.interactions.values()}
            if match["id"] not in known or query.get("alt") != ["media"]:
                return _error(404, "File not found.")
            return 200, {"Content-Type": "video/mp4"}, self.delivered_mp4
        return _error(404, f"Method or path not found: {method} {path}")

    def _create(self, body: Any) -> Answer:
        if self.script.create_errors:
            status = self.script.create_errors.pop(0)
            return _error(status, "Resource exhausted." if status == 429 else "Failed.")
        if not isinstance(body, dict) or body.get("background") is not True:
            return _error(400, "Video generation requires background=true.")
        if body.get("model") not in MODELS:
            return _error(404, f"Model {body.get('model')} is not found.")
        interaction_id = "v1_" + secrets.token_hex(8)
        with self._lock:
            self.interactions[interaction_id] = {
                "body": body,
                "polls": 0,
                "status": "in_progress",
                "file": secrets.token_hex(6),
                "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
        return json_answer(200, self._shape(interaction_id))

    def _cancel(self, interaction_id: str) -> Answer:
        if self.script.cancel_errors:
            return _error(self.script.cancel_errors.pop(0), "Service unavailable.")
        item = self.interactions.get(interaction_id)
        if item is None:
            return _error(404, f"Interaction {interaction_id} not found.")
        if item["status"] in ("queued", "in_progress"):
            item["status"] = "cancelled"
        return json_answer(200, self._shape(interaction_id))

    def _get(self, interaction_id: str) -> Answer:
        if self.script.poll_errors:
            return _error(self.script.poll_errors.pop(0), "Service unavailable.")
        item = self.interactions.get(interaction_id)
        if item is None:
            return _error(404, f"Interaction {interaction_id} not found.")
        if item["status"] == "in_progress":
            item["polls"] += 1
            if item["polls"] > self.script.polls_until_done:
                item["status"] = {"blocked": "failed", "error": "failed"}.get(
                    self.script.result, self.script.result
                )
        return json_answer(200, self._shape(interaction_id))

    def _shape(self, interaction_id: str) -> dict[str, Any]:
        item = self.interactions[interaction_id]
        body = item["body"]
        answer: dict[str, Any] = {
            "id": interaction_id,
            "status": item["status"],
            "model": body["model"],
            "created": item["created"],
            "updated": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        status = item["status"]
        video = status == "completed" or (
            status in ("incomplete", "budget_exceeded") and self.script.with_partial_video
        )
        if video:
            fmt = body.get("response_format") or {}
            if fmt.get("delivery") == "uri":
                content = {
                    "type": "video",
                    "mime_type": "video/mp4",
                    "uri": f"{self.base_url}/v1beta/files/{item['file']}:download?alt=media",
                }
            else:
                data = base64.b64encode(self.delivered_mp4).decode()
                content = {"type": "video", "mime_type": "video/mp4", "data": data}
            answer["steps"] = [
                {"type": "user_input", "content": body.get("input")},
                {"type": "model_output", "content": [content]},
            ]
            seconds = int(str(fmt.get("duration", "8s")).rstrip("s") or 8)
            answer["usage"] = {"total_output_tokens": seconds * TOKENS_PER_SECOND}
        if status == "failed":
            if self.script.result == "blocked":
                error = {
                    "code": "PROHIBITED_CONTENT",
                    "message": "The request was blocked by Google's safety policy.",
                }
            else:
                error = {"code": "INVALID_ARGUMENT", "message": "Unsupported input for this task."}
            answer["errors"] = [error]
        return answer


@contextlib.contextmanager
def running_fake_interactions(
    *, mp4: bytes, api_key: str = "test-key"
) -> Iterator[FakeInteractions]:
    """Serve a fresh `FakeInteractions` on 127.0.0.1 (random port) for the block."""
    with running(FakeInteractions(mp4=mp4, api_key=api_key)) as fake:
        yield fake


def main() -> None:
    """Serve the fake on its own, for a local rehearsal of the omni provider:

        .venv/bin/python -m tests.fake_interactions --port 8767 &
        GENERATION_PROVIDER=omni GEMINI_API_KEY=test-key \\
            GEMINI_BASE_URL=http://127.0.0.1:8767 make run
    """
    import argparse

    parser = argparse.ArgumentParser(description="A fake Gemini Interactions API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--polls", type=int, default=2, help="polls before it is done")
    parser.add_argument("--result", default="completed")
    args = parser.parse_args()
    fake = FakeInteractions(mp4=tiny_mp4(), api_key=args.api_key)
    fake.script.polls_until_done = args.polls
    fake.script.result = args.result
    serve_forever(fake, port=args.port, what="Interactions API", api_key=args.api_key)


if __name__ == "__main__":
    main()
