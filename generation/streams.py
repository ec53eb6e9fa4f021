"""Live status streams: a job's status as Server-Sent Events, served by async views under ASGI.

One event per change of what the status answer says (the payload function's output), each
with an `id:` that names that state, so a client reconnecting with `Last-Event-ID` gets the
current state only if it differs from the last one it saw (nothing is replayed). A `retry:`
hint opens the stream; a comment line every GENERATION_EVENTS_HEARTBEAT_SECONDS keeps proxies
from timing out; the stream ends after the terminal event, or after
GENERATION_EVENTS_MAX_SECONDS (the client reconnects and resumes). A client that reconnects
after it saw the terminal event gets 204 No Content, which tells EventSource to stop.

Source of changes: the status snapshot (generation/snapshots.py) is read first and after every
wake-up. Wake-ups come from the process's Redis subscription (generation/changes.py) when
REDIS_URL is set and subscribed; otherwise the stream polls the snapshot every
GENERATION_EVENTS_POLL_SECONDS. Either way it also re-reads at every heartbeat, so a lost
announcement delays an event by one heartbeat at most. A stream holds no thread while it waits:
only the snapshot reads run in Django's sync thread (sync_to_async).
https://html.spec.whatwg.org/multipage/server-sent-events.html
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from generation.changes import ChangeHub, change_hub
from generation.models import Job
from generation.snapshots import job_snapshot_get

Payload = Callable[[Job], dict[str, Any]]
# What every stream response carries: no caching, and no buffering by nginx (deploy/).
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True)
class StreamState:
    """One state of the job as the stream renders it."""

    event_id: str
    data: str
    terminal: bool


def sse_frame(*, event: str, event_id: str, data: str) -> bytes:
    """One SSE event (`data` is one line of JSON, so one `data:` field)."""
    return f"event: {event}\nid: {event_id}\ndata: {data}\n\n".encode()


def _state(job: Job, payload: Payload) -> StreamState:
    data = json.dumps(payload(job), cls=DjangoJSONEncoder, separators=(",", ":"))
    digest = hashlib.sha256(data.encode()).hexdigest()[:16]
    return StreamState(event_id=digest, data=data, terminal=job.is_terminal)


def _read(user_id: int, job_id: uuid.UUID, payload: Payload) -> StreamState | None:
    job = job_snapshot_get(user_id=user_id, job_id=job_id)
    return None if job is None else _state(job, payload)


class JobStream:
    """The event stream of one job for one account.

    `open()` registers for wake-ups *before* the first snapshot read, so no change between the
    two is missed; then `events()` yields the SSE bytes.
    """

    def __init__(
        self, *, user_id: int, job_id: uuid.UUID, payload: Payload, event: str, last_event_id: str
    ) -> None:
        self.user_id = user_id
        self.job_id = job_id
        self.payload = payload
        self.event = event
        self.last_event_id = last_event_id
        self.wake = asyncio.Event()
        self.hub: ChangeHub | None = None
        self.first: StreamState | None = None

    async def read(self) -> StreamState | None:
        return await sync_to_async(_read)(self.user_id, self.job_id, self.payload)

    async def open(self) -> StreamState | None:
        """The current state, or None when the account has no such job."""
        self.hub = change_hub()
        if self.hub is not None:
            self.hub.watch(self.job_id, self.wake)
        self.first = await self.read()
        if self.first is None:
            self.close()
        return self.first

    @property
    def already_ended(self) -> bool:
        """The client saw the terminal event already (answer 204: EventSource stops)."""
        return (
            self.first is not None
            and self.first.terminal
            and self.first.event_id == self.last_event_id
        )

    def close(self) -> None:
        if self.hub is not None:
            self.hub.unwatch(self.job_id, self.wake)

    def _frame(self, state: StreamState) -> bytes:
        return sse_frame(event=self.event, event_id=state.event_id, data=state.data)

    async def events(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._events():
                yield chunk
        finally:
            self.close()

    async def _events(self) -> AsyncIterator[bytes]:
        if self.first is None:
            raise RuntimeError("open() the stream first")
        loop = asyncio.get_running_loop()
        heartbeat = float(settings.GENERATION_EVENTS_HEARTBEAT_SECONDS)
        poll = float(settings.GENERATION_EVENTS_POLL_SECONDS)
        now = loop.time()
        deadline = now + float(settings.GENERATION_EVENTS_MAX_SECONDS)
        next_beat = now + heartbeat
        yield f"retry: {settings.GENERATION_EVENTS_RETRY_MS}\n\n".encode()
        sent = self.last_event_id
        state: StreamState | None = self.first
        while state is not None:
            if state.event_id != sent:
                sent = state.event_id
                yield self._frame(state)
                if state.terminal:
                    return
            now = loop.time()
            if now >= next_beat:
                yield b": heartbeat\n\n"
                next_beat = now + heartbeat
            if now >= deadline:
                return
            wait_until = min(deadline, next_beat)
            if self.hub is None or not self.hub.live:
                wait_until = min(wait_until, now + poll)
            try:
                async with asyncio.timeout(max(0.0, wait_until - now)):
                    await self.wake.wait()
            except TimeoutError:
                pass
            self.wake.clear()
            state = await self.read()
